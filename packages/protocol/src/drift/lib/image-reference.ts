import type { GlobMatch } from './path-glob.ts';

/**
 * Container image references, normalized the way a container runtime resolves them:
 * `nginx` is `docker.io/library/nginx`, `acme/app` is `docker.io/acme/app`, and the first
 * component is a registry only when it looks like a host (a dot, a port, or `localhost`).
 */
export interface ImageReference {
  /** Registry host, with port when given: `ghcr.io`, `localhost:5000`, `docker.io`. */
  readonly registry: string;
  /** Repository path inside the registry: `library/nginx`, `acme/app`. */
  readonly repository: string;
  /** `registry/repository`: what allowed-registry prefixes are matched against. */
  readonly name: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** Parses an image reference, or returns undefined for something that is not one. */
export function parseImageReference(image: string): ImageReference | undefined {
  if (image.length === 0 || image.length > 4096 || /\s/.test(image)) return undefined;
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (digest.length === 0) return undefined;
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag.length === 0) return undefined;
  }
  if (rest.length === 0) return undefined;
  const slash = rest.indexOf('/');
  const first = slash === -1 ? '' : rest.slice(0, slash);
  let registry: string;
  let repository: string;
  if (slash !== -1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first.toLowerCase();
    repository = rest.slice(slash + 1);
  } else {
    registry = 'docker.io';
    repository = slash === -1 ? `library/${rest}` : rest;
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = 'docker.io';
  if (repository.length === 0) return undefined;
  return {
    registry,
    repository,
    name: `${registry}/${repository}`,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}

/**
 * True when the image comes from one of the allowed registries. Each entry is a name glob
 * matched against the registry host or any `/`-bounded prefix of the image name, so
 * `ghcr.io/acme` allows `ghcr.io/acme/app` but not `ghcr.io/acme-evil/app`, and
 * `*.dkr.ecr.*.amazonaws.com` allows any ECR registry. An unparsable image is never allowed.
 */
export function isImageFromAllowedRegistry(image: string, allowed: readonly GlobMatch[]): boolean {
  if (allowed.length === 0) return false;
  const ref = parseImageReference(image);
  if (ref === undefined) return false;
  let prefix = ref.registry;
  const parts = ref.repository.split('/');
  for (let i = -1; i < parts.length; i++) {
    if (i >= 0) prefix += `/${parts[i] as string}`;
    for (const glob of allowed) if (glob(prefix)) return true;
  }
  return false;
}
