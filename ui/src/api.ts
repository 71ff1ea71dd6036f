// The tracking API (/mlpipe/tracking/v1, see the plugin's OpenAPI) and the links the pages build.
// Every URL is relative to Airflow's <base href>, so a deployment under a sub-path works too.

export type Params = Record<string, unknown>;

export interface ReusedFrom {
  dag_id: string;
  run_id: string;
  task_id: string;
  url?: string | null;
}

export interface RunSummary {
  dag_id: string;
  run_id: string;
  experiment?: string | null;
  is_pipeline: boolean;
  status: string;
  state?: string | null;
  start_date?: string | null;
  end_date?: string | null;
  duration_s?: number | null;
  parameters?: Params;
  description?: string | null;
  tags?: Record<string, string>;
  url?: string | null;
}

export interface StepNode {
  task_id: string;
  name?: string | null;
  kind?: string | null;
  status: string;
  state?: string | null;
  start_date?: string | null;
  end_date?: string | null;
  duration_s?: number | null;
  try_number?: number | null;
  reused?: boolean;
  reused_from?: ReusedFrom | null;
  reason?: string | null;
  log_url?: string | null;
  url?: string | null;
}

export interface RunDetail extends RunSummary {
  steps: StepNode[];
  edges: [string, string][];
  pipeline_metrics?: Params;
  airflow_url?: string | null;
  message?: string | null;
}

export interface Table {
  columns: string[];
  rows: unknown[][];
}

export interface StepDetail extends StepNode {
  parameters?: Params;
  metrics?: Params;
  tables?: Record<string, Table>;
  images?: { name: string; description?: string | null; url: string }[];
  tags?: Record<string, string>;
  outputs?: {
    name: string;
    datastore?: string | null;
    path?: string | null;
    files?: number | null;
    bytes?: number | null;
    download_url?: string | null;
  }[];
}

export interface Experiment {
  name: string;
  dag_ids: string[];
  total_runs: number;
  last_run?: RunSummary | null;
}

export interface Published {
  id: string;
  name: string;
  version?: string | null;
  status: string;
  dag_id: string;
  recent_runs?: RunSummary[];
}

export interface Endpoint {
  id: string;
  name: string;
  status: string;
  default_version?: string | null;
  versions?: { version: string; pipeline_id: string }[];
  recent_runs?: RunSummary[];
}

export interface Schedule {
  id: string;
  name?: string | null;
  status: string;
  pipeline_id?: string | null;
  next_run?: string | null;
  recent_runs?: RunSummary[];
}

export interface Comparison {
  dag_id: string;
  runs: { run_id: string; start_date?: string | null; status: string; parameters: Params; metrics: Record<string, number> }[];
  metric_names: string[];
  parameter_names: string[];
  total_entries: number;
}

// The standalone build (iframe fallback) sets the base of Airflow's UI; inside Airflow it is <base href>.
let airflowBase: string | undefined;
export function setAirflowBase(base: string): void {
  airflowBase = base;
}
export function base(): string {
  return airflowBase ?? document.baseURI;
}

// In the standalone build, the path of this page from the origin (e.g. /mlpipe/tracking/app/).
// Airflow's "ML experiments" external view takes what follows plugin/mlpipe/ in its own address
// as its iframe's path and query, so a link to the nav page with a view in its query goes there.
let navEntry = "";
export function setNavEntry(pathname: string): void {
  navEntry = pathname.startsWith("/") ? pathname : `/${pathname}`;
}

/** Whether the page runs in an iframe (the external views of [mlpipe] tracking_ui = iframe). */
export function inFrame(): boolean {
  return window.top !== window.self;
}

/**
 * Opens a page of Airflow's UI from inside the iframe. Airflow sandboxes its external views
 * without allow-top-navigation, so a target=_top link is refused; the iframe is on Airflow's
 * origin (allow-same-origin), so it asks Airflow's router to navigate, as one of its own links
 * would: a history entry on the top window and the popstate event its router listens to.
 * Returns false when that is not possible (then the link's default applies).
 */
export function navigateTop(url: string): boolean {
  try {
    const top = window.top;
    if (!top || top === window.self) return false;
    const target = new URL(url, top.location.href);
    if (target.origin !== top.location.origin) return false;
    const prev = top.history.state as { idx?: number } | null;
    const state = { usr: null, key: Math.random().toString(36).slice(2, 10), idx: (prev?.idx ?? 0) + 1 };
    top.history.pushState(state, "", `${target.pathname}${target.search}${target.hash}`);
    top.dispatchEvent(new PopStateEvent("popstate", { state }));
    return true;
  } catch {
    return false; // another origin: the browser keeps the top window to itself
  }
}

/** The props of a link to a page of Airflow's UI: inside an iframe it navigates Airflow's page. */
type Click = { button: number; metaKey: boolean; ctrlKey: boolean; shiftKey: boolean; altKey: boolean; preventDefault(): void };
export function airflowLink(url: string): { href: string; target?: string; onClick?: (e: Click) => void } {
  if (!inFrame()) return { href: url };
  return {
    href: url,
    target: "_top",
    onClick: (e: Click) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      if (navigateTop(url)) e.preventDefault();
    },
  };
}

/** An absolute URL for a path relative to Airflow's base (API routes, page links). */
export function href(path: string): string {
  return new URL(path.replace(/^\/+/, ""), base()).href;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(path: string, query?: [string, string][]): Promise<T> {
  const url = new URL(`mlpipe/tracking/v1/${path}`, base());
  for (const [k, v] of query ?? []) url.searchParams.append(k, v);
  const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!res.ok) {
    let detail = res.statusText;
    try {
      const body = await res.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? body);
    } catch {
      /* not JSON: keep the status text */
    }
    throw new ApiError(res.status, `${res.status}: ${detail}`);
  }
  return (await res.json()) as T;
}

const seg = encodeURIComponent;
export const links = {
  run: (dag: string, run: string) => `dags/${seg(dag)}/runs/${seg(run)}/plugin/mlpipe-run`,
  step: (dag: string, run: string, task: string) =>
    `dags/${seg(dag)}/runs/${seg(run)}/tasks/${seg(task)}/plugin/mlpipe-step`,
  log: (dag: string, run: string, task: string) => `dags/${seg(dag)}/runs/${seg(run)}/tasks/${seg(task)}`,
  airflowRun: (dag: string, run: string) => `dags/${seg(dag)}/runs/${seg(run)}`,
  dag: (dag: string) => `dags/${seg(dag)}`,
  nav: (query = "") => `plugin/mlpipe${query ? navEntry : ""}${query}`,
  runApi: (dag: string, run: string) => `runs/${seg(dag)}/${seg(run)}`,
  stepApi: (dag: string, run: string, task: string) => `runs/${seg(dag)}/${seg(run)}/steps/${seg(task)}`,
};
