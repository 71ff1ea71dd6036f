// The "ML experiments" page in Airflow's navigation: experiments, published pipelines, pipeline
// endpoints and schedules, each with its recent runs, and the run comparison. The chosen view is
// kept in the query string (?view=compare&dag_id=...&run_id=...), so a view can be linked to.
import { useState, type ReactNode } from "react";

import { api, links, type Endpoint, type Experiment, type Published, type RunSummary, type Schedule } from "./api";
import { A, formatTime, isTerminal, Loading, Problem, RunsTable, Status, useApi } from "./common";
import { Compare, type CompareState } from "./Compare";

const VIEWS = [
  ["experiments", "Experiments"],
  ["pipelines", "Published pipelines"],
  ["endpoints", "Endpoints"],
  ["schedules", "Schedules"],
  ["compare", "Compare runs"],
] as const;
type View = (typeof VIEWS)[number][0];

interface NavState extends CompareState {
  view: View;
}

function readState(): NavState {
  const q = new URLSearchParams(window.location.search);
  const view = (VIEWS.find(([v]) => v === q.get("view"))?.[0] ?? "experiments") as View;
  return {
    view,
    dagId: q.get("dag_id") ?? undefined,
    runIds: q.getAll("run_id"),
    metric: q.get("metric") ?? undefined,
    x: q.get("x") ?? undefined,
  };
}

function writeState(s: NavState): void {
  const q = new URLSearchParams();
  if (s.view !== "experiments") q.set("view", s.view);
  if (s.dagId) q.set("dag_id", s.dagId);
  s.runIds.forEach((r) => q.append("run_id", r));
  if (s.metric) q.set("metric", s.metric);
  if (s.x) q.set("x", s.x);
  const search = q.toString();
  window.history.replaceState(window.history.state, "", `${window.location.pathname}${search ? `?${search}` : ""}`);
}

function Card(props: { title: ReactNode; meta?: ReactNode; testId: string; children: ReactNode }) {
  return (
    <section className="mp-card" data-testid={props.testId}>
      <div className="mp-card-head">
        <h3>{props.title}</h3>
        {props.meta}
      </div>
      {props.children}
    </section>
  );
}

function ExperimentCard({ e }: { e: Experiment }) {
  const runs = useApi<{ runs: RunSummary[] }>(() => api("runs", [["experiment", e.name], ["limit", "5"]]), [e.name], {
    every: 5000,
    while: (d) => d.runs.some((r) => !isTerminal(r.status)),
  });
  return (
    <Card
      title={e.name}
      testId={`mlpipe-experiment-${e.name}`}
      meta={
        <span className="mp-muted">
          {e.total_runs} run{e.total_runs === 1 ? "" : "s"} · {e.dag_ids.map((d, i) => (
            <span key={d}>
              {i ? ", " : ""}
              <A to={links.dag(d)}>{d}</A>
            </span>
          ))}
        </span>
      }
    >
      <Problem error={runs.error} what="runs" />
      {runs.data ? <RunsTable runs={runs.data.runs} /> : !runs.error && <Loading what="runs" />}
    </Card>
  );
}

function List<T>(props: { path: string; field: string; what: string; render: (item: T) => ReactNode }) {
  const res = useApi<Record<string, unknown>>(() => api(props.path, [["limit", "50"]]), [props.path]);
  if (res.error) return <Problem error={res.error} what={props.what} />;
  if (!res.data) return <Loading what={props.what} />;
  const items = (res.data[props.field] as T[]) ?? [];
  const total = res.data.total_entries as number;
  if (!items.length) return <p className="mp-muted">No {props.what} yet.</p>;
  return (
    <>
      {items.map(props.render)}
      {total > items.length && <p className="mp-muted">{`Showing ${items.length} of ${total}.`}</p>}
    </>
  );
}

export function NavPage() {
  const [state, setState] = useState<NavState>(readState);
  const set = (s: NavState) => {
    setState(s);
    writeState(s);
  };
  const dags = useApi<{ experiments: Experiment[] }>(
    state.view === "compare" ? () => api("experiments", [["limit", "200"]]) : null,
    [state.view],
  );
  return (
    <div className="mp-page" data-testid="mlpipe-nav-page">
      <header className="mp-header">
        <h2>ML experiments</h2>
      </header>
      <nav className="mp-tabs" role="tablist">
        {VIEWS.map(([v, label]) => (
          <button
            key={v}
            role="tab"
            aria-selected={state.view === v}
            className={state.view === v ? "mp-tab mp-tab-on" : "mp-tab"}
            data-testid={`mlpipe-tab-${v}`}
            onClick={() => set({ ...state, view: v })}
          >
            {label}
          </button>
        ))}
      </nav>
      {state.view === "experiments" && (
        <List<Experiment> path="experiments" field="experiments" what="experiments" render={(e) => <ExperimentCard key={e.name} e={e} />} />
      )}
      {state.view === "pipelines" && (
        <List<Published>
          path="pipelines"
          field="pipelines"
          what="published pipelines"
          render={(p) => (
            <Card
              key={p.id}
              testId={`mlpipe-pipeline-${p.id}`}
              title={p.name}
              meta={
                <span className="mp-muted">
                  <Status status={p.status} /> version {p.version ?? "–"} · id {p.id} · <A to={links.dag(p.dag_id)}>{p.dag_id}</A> ·{" "}
                  <A to={links.nav(`?view=compare&dag_id=${encodeURIComponent(p.dag_id)}`)}>compare</A>
                </span>
              }
            >
              <RunsTable runs={p.recent_runs} />
            </Card>
          )}
        />
      )}
      {state.view === "endpoints" && (
        <List<Endpoint>
          path="endpoints"
          field="endpoints"
          what="pipeline endpoints"
          render={(e) => (
            <Card
              key={e.id}
              testId={`mlpipe-endpoint-${e.id}`}
              title={e.name}
              meta={
                <span className="mp-muted">
                  <Status status={e.status} /> default version {e.default_version ?? "–"} · id {e.id}
                </span>
              }
            >
              <table className="mp-table mp-compact">
                <thead>
                  <tr>
                    <th>Version</th>
                    <th>Published pipeline</th>
                  </tr>
                </thead>
                <tbody>
                  {e.versions?.map((v) => (
                    <tr key={v.version}>
                      <td>
                        {v.version}
                        {v.version === e.default_version && <span className="mp-badge">default</span>}
                      </td>
                      <td>{v.pipeline_id}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <RunsTable runs={e.recent_runs} />
            </Card>
          )}
        />
      )}
      {state.view === "schedules" && (
        <List<Schedule>
          path="schedules"
          field="schedules"
          what="schedules"
          render={(s) => (
            <Card
              key={s.id}
              testId={`mlpipe-schedule-${s.id}`}
              title={s.name ?? s.id}
              meta={
                <span className="mp-muted">
                  <Status status={s.status} /> next run {formatTime(s.next_run)} · pipeline {s.pipeline_id ?? "–"}
                </span>
              }
            >
              <RunsTable runs={s.recent_runs} />
            </Card>
          )}
        />
      )}
      {state.view === "compare" && (
        <Compare
          state={state}
          dagIds={[...new Set((dags.data?.experiments ?? []).flatMap((e) => e.dag_ids))].sort()}
          set={(c) => set({ ...c, view: "compare" })}
        />
      )}
    </div>
  );
}
