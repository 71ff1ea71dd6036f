// The dag_run tab: a pipeline run's step graph, its steps (status, duration, why each ran or
// whose result it reused), parameters, pipeline metrics and every step's record.
import { api, links, type RunDetail, type StepNode } from "./api";
import { A, formatDuration, formatTime, isTerminal, KeyValues, Loading, Problem, Status, useApi } from "./common";
import { StepGraph, liveDuration } from "./Graph";
import { StepSection } from "./StepView";

function NotPipeline({ message }: { message?: string | null }) {
  return (
    <div className="mp-notice" data-testid="mlpipe-not-pipeline">
      {message || "This DAG is not an airflow-mlpipe pipeline: there is no step tracking for its runs."}
    </div>
  );
}

function StepsTable({ run }: { run: RunDetail }) {
  const now = Date.now();
  return (
    <table className="mp-table" data-testid="mlpipe-steps">
      <thead>
        <tr>
          <th>Step</th>
          <th>Kind</th>
          <th>Status</th>
          <th>Duration</th>
          <th>Why it ran</th>
          <th>Log</th>
        </tr>
      </thead>
      <tbody>
        {run.steps.map((s: StepNode) => (
          <tr key={s.task_id} data-testid={`mlpipe-step-row-${s.task_id}`}>
            <td>
              <A to={s.url ?? links.step(run.dag_id, run.run_id, s.task_id)}>{s.name ?? s.task_id}</A>
            </td>
            <td>{s.kind ?? "–"}</td>
            <td>
              <Status status={s.status} />
              {s.reused && s.reused_from && (
                <>
                  {" "}
                  <A to={s.reused_from.url ?? links.run(s.reused_from.dag_id, s.reused_from.run_id)} title={`Reused from ${s.reused_from.run_id}`}>
                    <span className="mp-badge">Reused</span>
                  </A>
                </>
              )}
            </td>
            <td>{formatDuration(liveDuration(s, now))}</td>
            <td className="mp-small">{s.reason ?? "–"}</td>
            <td>
              <A to={s.log_url ?? links.log(run.dag_id, run.run_id, s.task_id)}>Log</A>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function RunPage({ dagId, runId }: { dagId: string; runId: string }) {
  const run = useApi<RunDetail>(() => api(links.runApi(dagId, runId)), [dagId, runId], {
    every: 3000,
    while: (d) => d.is_pipeline && !isTerminal(d.status),
  });
  if (run.error && !run.data) {
    return (run.error as { status?: number }).status === 404 ? <NotPipeline message={run.error.message} /> : <Problem error={run.error} what="the run" />;
  }
  if (!run.data) return <Loading what="the run" />;
  const r = run.data;
  if (!r.is_pipeline) return <NotPipeline message={r.message} />;
  return (
    <div className="mp-page" data-testid="mlpipe-run-page">
      <header className="mp-header">
        <h2>
          {r.experiment ? `${r.experiment} · ` : ""}
          {r.description || r.run_id}
        </h2>
        <Status status={r.status} testId="mlpipe-run-status" />
        <span className="mp-muted">
          {formatTime(r.start_date)} · {formatDuration(r.duration_s)}
        </span>
        <A to={links.nav(`?view=compare&dag_id=${encodeURIComponent(r.dag_id)}`)} testId="mlpipe-compare-link">
          Compare runs
        </A>
      </header>
      <section>
        <h3>Steps</h3>
        <div className="mp-scroll">
          <StepGraph dagId={r.dag_id} runId={r.run_id} steps={r.steps} edges={r.edges} />
        </div>
        <StepsTable run={r} />
      </section>
      <section className="mp-columns">
        <div>
          <h3>Parameters</h3>
          <KeyValues values={r.parameters} testId="mlpipe-run-params" empty="No parameters." />
        </div>
        <div>
          <h3>Pipeline metrics</h3>
          <KeyValues values={r.pipeline_metrics} testId="mlpipe-pipeline-metrics" empty="No pipeline metrics." />
        </div>
        {Object.keys(r.tags ?? {}).length > 0 && (
          <div>
            <h3>Tags</h3>
            <KeyValues values={r.tags} empty="" />
          </div>
        )}
      </section>
      {r.steps.map((s) => (
        <section key={s.task_id} className="mp-card" id={`step-${s.task_id}`}>
          <h3>
            <A to={s.url ?? links.step(r.dag_id, r.run_id, s.task_id)}>{s.name ?? s.task_id}</A>
          </h3>
          <StepSection dagId={r.dag_id} runId={r.run_id} taskId={s.task_id} status={s.status} />
        </section>
      ))}
    </div>
  );
}

export function StepPage({ dagId, runId, taskId }: { dagId: string; runId: string; taskId: string }) {
  const run = useApi<RunDetail>(() => api(links.runApi(dagId, runId)), [dagId, runId]);
  if (run.data && !run.data.is_pipeline) return <NotPipeline message={run.data.message} />;
  if (run.error && (run.error as { status?: number }).status === 404) return <NotPipeline message={run.error.message} />;
  const known = run.data?.steps.some((s) => s.task_id === taskId);
  return (
    <div className="mp-page" data-testid="mlpipe-step-page">
      <header className="mp-header">
        <h2>{taskId}</h2>
        <A to={links.run(dagId, runId)} testId="mlpipe-run-link">
          Whole run
        </A>
      </header>
      {run.data && !known ? (
        <div className="mp-notice" data-testid="mlpipe-not-step">
          Task {taskId} is not a step of this pipeline run (it has no tracking record).
        </div>
      ) : (
        <StepSection dagId={dagId} runId={runId} taskId={taskId} params />
      )}
    </div>
  );
}
