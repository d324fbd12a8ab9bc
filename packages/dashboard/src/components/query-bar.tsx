import { useEffect, useRef, useState } from 'preact/hooks';
import { QueryCompletion } from '@flotilla/protocol/api';
import { ApiError, get } from '../api.ts';
import type { Completion } from '../types.ts';

type CompletionItem = Completion['items'][number];

/** The parts of a query error the bar shows: the caret under the text and a suggestion. */
function queryProblem(
  error: unknown,
): { message: string; caret?: string; suggestion?: string; field?: string; column?: number } | undefined {
  if (!(error instanceof ApiError) || !error.code.startsWith('QUERY_')) return undefined;
  const d = error.details ?? {};
  return {
    message: error.message,
    ...(typeof d['caret'] === 'string' ? { caret: d['caret'] } : {}),
    ...(typeof d['suggestion'] === 'string' ? { suggestion: d['suggestion'] } : {}),
    ...(typeof d['field'] === 'string' ? { field: d['field'] } : {}),
    ...(typeof d['column'] === 'number' ? { column: d['column'] } : {}),
  };
}

/**
 * The fleet query bar: the CLI's query language, completion of field names and values
 * (a combobox: arrows move, Enter or Tab takes, Escape closes), and the hub's error with
 * its caret under the text and a "did you mean" that applies the fix.
 */
export function QueryBar({
  value,
  error,
  onSubmit,
  label = 'Fleet query',
}: {
  value: string;
  error: unknown;
  onSubmit: (q: string) => void;
  label?: string;
}) {
  const [text, setText] = useState(value);
  const [completion, showCompletion] = useState<Completion | undefined>(undefined);
  const [active, showActive] = useState(-1);
  // Keys can arrive faster than the bar renders: each must see what the one before chose.
  const latest = useRef<{ completion: Completion | undefined; active: number }>({ completion: undefined, active: -1 });
  const setCompletion = (next: Completion | undefined): void => {
    latest.current.completion = next;
    showCompletion(next);
  };
  const setActive = (next: number): void => {
    latest.current.active = next;
    showActive(next);
  };
  const input = useRef<HTMLInputElement>(null);
  const request = useRef(0);
  const timer = useRef<number | undefined>(undefined);

  // The text follows the address when it changes (back, a link, a fix), never on mount:
  // the mount's effect runs a frame late and would wipe what was typed in that frame.
  const shown = useRef(value);
  useEffect(() => {
    if (shown.current === value) return;
    shown.current = value;
    setText(value);
  }, [value]);
  useEffect(() => () => window.clearTimeout(timer.current), []);

  const complete = (q: string, at: number): void => {
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => {
      const mine = ++request.current;
      get('/v1/targets/complete', QueryCompletion, { q, at })
        .then((answer) => {
          if (mine !== request.current) return;
          setCompletion(answer.items.length === 0 ? undefined : answer);
          setActive(-1);
        })
        .catch(() => setCompletion(undefined));
    }, 60);
  };

  const accept = (item: CompletionItem): void => {
    const { completion } = latest.current;
    if (completion === undefined) return;
    const current = input.current?.value ?? text;
    const next = current.slice(0, completion.from) + item.insert + current.slice(completion.to);
    const caret = completion.from + item.insert.length;
    if (input.current !== null) {
      input.current.value = next;
      // Now, not in the next frame: keys typed before that frame would land where it put the caret back.
      input.current.setSelectionRange(caret, caret);
    }
    setText(next);
    setCompletion(undefined);
    requestAnimationFrame(() => input.current?.focus());
    // A field is followed by its operator; values may follow right away.
    if (completion.kind === 'value') complete(next, caret);
  };

  const submit = (q: string): void => {
    request.current++;
    window.clearTimeout(timer.current);
    setCompletion(undefined);
    onSubmit(q.trim());
  };

  const onKeyDown = (event: KeyboardEvent): void => {
    const { completion, active } = latest.current;
    const items = completion?.items ?? [];
    if (event.key === 'ArrowDown' && items.length > 0) {
      event.preventDefault();
      setActive((active + 1) % items.length);
    } else if (event.key === 'ArrowUp' && items.length > 0) {
      event.preventDefault();
      setActive(active <= 0 ? items.length - 1 : active - 1);
    } else if ((event.key === 'Enter' || event.key === 'Tab') && active >= 0 && items[active] !== undefined) {
      event.preventDefault();
      accept(items[active]);
    } else if (event.key === 'Escape') {
      setCompletion(undefined);
    } else if (event.key === 'Enter') {
      event.preventDefault();
      submit(input.current?.value ?? text);
    }
  };

  const problem = queryProblem(error);
  const fixSuggestion = (): void => {
    if (problem?.suggestion === undefined) return;
    const wrong = problem.field;
    const start = problem.column === undefined ? -1 : problem.column - 1;
    const fixed =
      wrong !== undefined && start >= 0 && text.slice(start, start + wrong.length) === wrong
        ? text.slice(0, start) + problem.suggestion + text.slice(start + wrong.length)
        : wrong !== undefined
          ? text.replace(wrong, problem.suggestion)
          : text;
    setText(fixed);
    submit(fixed);
  };
  const listId = 'query-completion';
  const open = completion !== undefined && completion.items.length > 0;

  return (
    <form
      class="query-bar"
      role="search"
      onSubmit={(event) => {
        event.preventDefault();
        submit(text);
      }}
    >
      <label for="query-input">{label}</label>
      <div class="query-row">
        <div class="combo">
          <input
            id="query-input"
            ref={input}
            class="query-input"
            type="text"
            spellcheck={false}
            autocomplete="off"
            placeholder="region in (eu-*), tier=production, health!=healthy"
            value={text}
            role="combobox"
            aria-autocomplete="list"
            aria-expanded={open}
            aria-controls={listId}
            aria-activedescendant={open && active >= 0 ? `${listId}-${active}` : undefined}
            aria-invalid={problem !== undefined}
            aria-describedby={problem === undefined ? 'query-help' : 'query-error'}
            onInput={(event) => {
              const target = event.currentTarget;
              setText(target.value);
              complete(target.value, target.selectionStart ?? target.value.length);
            }}
            onKeyDown={onKeyDown}
            onBlur={() => window.setTimeout(() => setCompletion(undefined), 150)}
          />
          {open ? (
            <ul id={listId} role="listbox" class="completion" aria-label="Suggestions">
              {completion.items.map((item, i) => (
                <li
                  id={`${listId}-${i}`}
                  key={item.insert}
                  role="option"
                  aria-selected={i === active}
                  class={i === active ? 'active' : ''}
                  onMouseDown={(event) => {
                    event.preventDefault();
                    accept(item);
                  }}
                >
                  <span>{item.label}</span>
                  {item.count === undefined ? null : <span class="muted">{item.count.toLocaleString()}</span>}
                </li>
              ))}
            </ul>
          ) : null}
        </div>
        <button type="submit" class="primary">
          Apply
        </button>
        {text === '' ? null : (
          <button
            type="button"
            onClick={() => {
              setText('');
              submit('');
            }}
          >
            Clear
          </button>
        )}
      </div>
      {problem === undefined ? (
        <p id="query-help" class="muted small">
          Same language as <code>flotilla targets ls -q</code>: commas mean and; <code>or</code>, <code>not</code>,{' '}
          <code>in (…)</code>, globs, <code>lastSeen&lt;now-1h</code>.
        </p>
      ) : (
        <div id="query-error" class="query-error" role="alert">
          <p>{problem.message}</p>
          {problem.caret === undefined ? null : (
            <pre class="caret" data-testid="query-caret">
              {problem.caret}
            </pre>
          )}
          {problem.suggestion === undefined ? null : (
            <p>
              Did you mean{' '}
              <button type="button" class="link" onClick={fixSuggestion}>
                {problem.suggestion}
              </button>
              ?
            </p>
          )}
        </div>
      )}
    </form>
  );
}
