import type { ComponentChild } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

export interface Column<T> {
  readonly key: string;
  readonly label: string;
  readonly sortable?: boolean;
  /** A CSS class that sets the column's width (no inline styles: the CSP forbids them in markup). */
  readonly className: string;
  readonly render: (row: T) => ComponentChild;
}

export interface TableWindow<T> {
  readonly rows: readonly T[];
  readonly total: number;
}

const PAGE = 100;
const OVERSCAN = 10;

/**
 * A table of any length that renders only the rows in view. Rows come from the hub in
 * pages of 100 (`load(offset, limit)`), fetched as they scroll into view and kept until
 * `version` changes (a new query or sort). `tick` re-reads the pages in view in place, for
 * live updates. Rows have one fixed height so that the scroll position alone says which
 * rows show.
 */
export function VirtualTable<T>(props: {
  columns: readonly Column<T>[];
  first: TableWindow<T>;
  load: (offset: number, limit: number) => Promise<TableWindow<T>>;
  version: string;
  tick: number;
  rowKey: (row: T) => string;
  sort: { key: string; order: 'asc' | 'desc' };
  onSort: (key: string) => void;
  label: string;
  rowHeight?: number;
}) {
  const rowHeight = props.rowHeight ?? 36;
  const viewport = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const [pages, setPages] = useState<Map<number, readonly T[]>>(() => new Map([[0, props.first.rows]]));
  const [total, setTotal] = useState(props.first.total);
  const loading = useRef(new Set<number>());
  const generation = useRef(0);

  useLayoutEffect(() => {
    generation.current++;
    loading.current.clear();
    setPages(new Map([[0, props.first.rows]]));
    setTotal(props.first.total);
    if (viewport.current !== null) viewport.current.scrollTop = 0;
    setScrollTop(0);
  }, [props.version]);

  useEffect(() => {
    const element = viewport.current;
    if (element === null) return undefined;
    const observer = new ResizeObserver(() => setHeight(element.clientHeight));
    observer.observe(element);
    setHeight(element.clientHeight);
    return () => observer.disconnect();
  }, []);

  const firstRow = Math.max(0, Math.floor(scrollTop / rowHeight) - OVERSCAN);
  const lastRow = Math.min(total, Math.ceil((scrollTop + height) / rowHeight) + OVERSCAN);
  const firstPage = Math.floor(firstRow / PAGE);
  const lastPage = Math.floor(Math.max(firstRow, lastRow - 1) / PAGE);

  const fetchPage = (page: number, force: boolean): void => {
    if (loading.current.has(page) || (!force && pages.has(page))) return;
    loading.current.add(page);
    const mine = generation.current;
    props
      .load(page * PAGE, PAGE)
      .then((window) => {
        if (mine !== generation.current) return;
        setPages((before) => new Map(before).set(page, window.rows));
        setTotal(window.total);
      })
      .catch(() => undefined)
      .finally(() => loading.current.delete(page));
  };

  useEffect(() => {
    for (let page = firstPage; page <= lastPage; page++) fetchPage(page, false);
  }, [firstPage, lastPage, props.version, pages]);

  useEffect(() => {
    if (props.tick === 0) return;
    for (let page = firstPage; page <= lastPage; page++) fetchPage(page, true);
  }, [props.tick]);

  const rows: { index: number; row: T | undefined }[] = [];
  for (let index = firstRow; index < lastRow; index++)
    rows.push({ index, row: pages.get(Math.floor(index / PAGE))?.[index % PAGE] });

  const onKeyDown = (event: KeyboardEvent): void => {
    const element = viewport.current;
    if (element === null) return;
    const step = {
      PageDown: height - rowHeight,
      PageUp: -(height - rowHeight),
      Home: -Infinity,
      End: Infinity,
    } as Record<string, number>;
    const by = step[event.key];
    if (by === undefined || (event.target as Element).tagName === 'A') return;
    event.preventDefault();
    element.scrollTop = Math.max(0, Math.min(total * rowHeight, element.scrollTop + by));
  };

  return (
    <div class="vtable" role="table" aria-label={props.label} aria-rowcount={total + 1}>
      <div class="vrow vhead" role="row" aria-rowindex={1}>
        {props.columns.map((column) => {
          const sorted = props.sort.key === column.key;
          return (
            <div
              key={column.key}
              role="columnheader"
              class={`vcell ${column.className}`}
              aria-sort={sorted ? (props.sort.order === 'asc' ? 'ascending' : 'descending') : undefined}
            >
              {column.sortable === true ? (
                <button type="button" class="sort" onClick={() => props.onSort(column.key)}>
                  {column.label}
                  <span aria-hidden="true" class="sort-mark">
                    {sorted ? (props.sort.order === 'asc' ? '▲' : '▼') : ''}
                  </span>
                </button>
              ) : (
                column.label
              )}
            </div>
          );
        })}
      </div>
      <div
        class="viewport"
        ref={viewport}
        tabIndex={0}
        aria-label={`${props.label}: ${total.toLocaleString()} rows; scroll with arrow keys, Page Up and Page Down`}
        onScroll={(event) => setScrollTop(event.currentTarget.scrollTop)}
        onKeyDown={onKeyDown}
        role="rowgroup"
      >
        <div class="spacer" style={{ height: `${total * rowHeight}px` }}>
          {rows.map(({ index, row }) => (
            <div
              key={row === undefined ? `loading-${index}` : props.rowKey(row)}
              class="vrow"
              role="row"
              aria-rowindex={index + 2}
              style={{ transform: `translateY(${index * rowHeight}px)` }}
            >
              {row === undefined ? (
                <div role="cell" class="vcell muted">
                  loading…
                </div>
              ) : (
                props.columns.map((column) => (
                  <div key={column.key} role="cell" class={`vcell ${column.className}`}>
                    {column.render(row)}
                  </div>
                ))
              )}
            </div>
          ))}
        </div>
      </div>
    </div>
  );
}
