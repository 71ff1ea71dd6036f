// Small pieces every page uses: data loading, links, status badges, value formatting, tables.
import { useEffect, useState, type ReactNode } from "react";

import { airflowLink, ApiError, href, links, type Params, type RunSummary } from "./api";

export type Loaded<T> = { data?: T; error?: ApiError | Error; loading: boolean; reload: () => void };

/** Loads a JSON route; `poll` re-fetches every N ms while `keepPolling(data)` says so. */
export function useApi<T>(
  load: (() => Promise<T>) | null,
  deps: unknown[],
  poll?: { every: number; while: (d: T) => boolean },
): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!load) {
      setState({ loading: false });
      return;
    }
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = () =>
      load().then(
        (data) => {
          if (!live) return;
          setState({ data, loading: false });
          if (poll && poll.while(data)) timer = setTimeout(run, poll.every);
        },
        (error: Error) => live && setState((s) => ({ data: s.data, error, loading: false })),
      );
    run();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

export function A(props: { to: string; children: ReactNode; testId?: string; title?: string; download?: boolean }) {
  return (
    <a
      {...(props.download ? { href: href(props.to) } : airflowLink(href(props.to)))}
      data-testid={props.testId}
      title={props.title}
      download={props.download ? "" : undefined}
    >
      {props.children}
    </a>
  );
}

const TERMINAL = new Set(["Finished", "Failed", "Canceled", "NotStarted", "Skipped"]);
export const isTerminal = (status: string) => TERMINAL.has(status);

export function Status({ status, testId }: { status: string; testId?: string }) {
  return (
    <span className={`mp-status mp-status-${status.toLowerCase()}`} data-testid={testId}>
      {status}
    </span>
  );
}

export function formatDuration(seconds?: number | null): string {
  if (seconds == null || !Number.isFinite(seconds)) return "–";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatTime(iso?: string | null): string {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function formatValue(v: unknown): string {
  if (v == null) return "–";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(6).replace(/\.?0+$/, "");
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

export function formatBytes(n?: number | null): string {
  if (n == null) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i += 1;
  }
  return `${i ? x.toFixed(1) : x} ${units[i]}`;
}

export function Problem({ error, what }: { error?: Error; what: string }) {
  if (!error) return null;
  return (
    <div className="mp-problem" role="alert" data-testid="mlpipe-error">
      Could not load {what}: {error.message}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return <div className="mp-muted">Loading {what}…</div>;
}

export function KeyValues({ values, testId, empty }: { values?: Params; testId?: string; empty: string }) {
  const entries = Object.entries(values ?? {});
  if (!entries.length) return <p className="mp-muted">{empty}</p>;
  return (
    <table className="mp-table" data-testid={testId}>
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k}>
            <th scope="row">{k}</th>
            <td>{formatValue(v)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function RunsTable({ runs, testId }: { runs?: RunSummary[]; testId?: string }) {
  if (!runs?.length) return <p className="mp-muted">No runs yet.</p>;
  return (
    <table className="mp-table" data-testid={testId}>
      <thead>
        <tr>
          <th>Run</th>
          <th>Status</th>
          <th>Started</th>
          <th>Duration</th>
          <th>Parameters</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr key={`${r.dag_id}/${r.run_id}`}>
            <td>
              <A to={r.url ?? links.run(r.dag_id, r.run_id)} testId={`mlpipe-run-link-${r.run_id}`}>
                {r.description || r.run_id}
              </A>
            </td>
            <td>
              <Status status={r.status} />
            </td>
            <td>{formatTime(r.start_date)}</td>
            <td>{formatDuration(r.duration_s)}</td>
            <td className="mp-small">
              {Object.entries(r.parameters ?? {})
                .map(([k, v]) => `${k}=${formatValue(v)}`)
                .join(", ") || "–"}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
