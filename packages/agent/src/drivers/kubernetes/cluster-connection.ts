/** Supplies the bearer token for each request, re-reading it when it rotates. */
export interface TokenSource {
  /** The token to send now. */
  token(): Promise<string>;
  /** Reads the token again, as after a 401; true when it changed. */
  refresh(): Promise<boolean>;
}

/**
 * Where a Kubernetes API server is and how to talk to it: built by `inClusterConnection` or
 * `kubeconfigConnection`, or by hand in tests.
 */
export interface ClusterConnection {
  /** `https://host:port`, or `http://` for a local stand-in. */
  readonly server: string;
  /** PEM bundle of the CAs that sign the server's certificate; the system CAs when absent. */
  readonly ca?: string;
  /** Skip server certificate verification (kubeconfig `insecure-skip-tls-verify`). */
  readonly insecureSkipTlsVerify?: boolean;
  /** The name to verify the server certificate against, when it differs from the URL's host. */
  readonly tlsServerName?: string;
  /** A client certificate and key, PEM. */
  readonly clientCertificate?: { readonly cert: string; readonly key: string };
  readonly token?: TokenSource;
  /** The namespace of the context or service account, for callers that need a default. */
  readonly namespace?: string;
}
