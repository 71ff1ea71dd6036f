// One step's tracking record: status, why it ran or whose result it reused, its metrics, tables,
// images, outputs (download links) and a link to its log. Used by the run page and the step page.
import { api, href, links, type StepDetail, type Table } from "./api";
import { A, formatBytes, formatDuration, formatTime, formatValue, isTerminal, KeyValues, Loading, Problem, Status, useApi } from "./common";

function TableView({ name, table, testId }: { name: string; table: Table; testId: string }) {
  return (
    <figure className="mp-figure">
      <figcaption>{name}</figcaption>
      <div className="mp-scroll">
        <table className="mp-table" data-testid={testId}>
          <thead>
            <tr>
              {table.columns.map((c) => (
                <th key={c}>{c}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {table.rows.slice(0, 500).map((row, i) => (
              <tr key={i}>
                {row.map((v, j) => (
                  <td key={j}>{formatValue(v)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {table.rows.length > 500 && <p className="mp-muted">First 500 of {table.rows.length} rows.</p>}
    </figure>
  );
}

export function StepBody({ step, dagId, runId }: { step: StepDetail; dagId: string; runId: string }) {
  const t = step.task_id;
  const metrics = step.metrics ?? {};
  const tables = Object.entries(step.tables ?? {});
  return (
    <div className="mp-step-body" data-testid={`mlpipe-step-detail-${t}`}>
      <dl className="mp-facts">
        <dt>Status</dt>
        <dd>
          <Status status={step.status} testId={`mlpipe-step-detail-status-${t}`} />
          {step.reused && (
            <>
              {" "}
              {step.reused_from ? (
                <A
                  to={step.reused_from.url ?? links.run(step.reused_from.dag_id, step.reused_from.run_id)}
                  testId={`mlpipe-step-reused-from-${t}`}
                  title="The run whose committed result this step reused"
                >
                  <span className="mp-badge">Reused</span> from {step.reused_from.run_id}
                </A>
              ) : (
                <span className="mp-badge">Reused</span>
              )}
            </>
          )}
        </dd>
        <dt>Why</dt>
        <dd data-testid={`mlpipe-step-reason-${t}`}>{step.reason ?? "–"}</dd>
        <dt>Kind</dt>
        <dd>{step.kind ?? "–"}</dd>
        <dt>Started</dt>
        <dd>{formatTime(step.start_date)}</dd>
        <dt>Duration</dt>
        <dd>{formatDuration(step.duration_s)}</dd>
        <dt>Try</dt>
        <dd>{step.try_number ?? "–"}</dd>
        <dt>Log</dt>
        <dd>
          <A to={step.log_url ?? links.log(dagId, runId, t)} testId={`mlpipe-log-link-${t}`}>
            Task log in Airflow
          </A>
        </dd>
      </dl>
      <h4>Metrics</h4>
      <KeyValues values={metrics} testId={`mlpipe-metrics-${t}`} empty={isTerminal(step.status) ? "No metrics logged." : "Metrics appear when the step ends."} />
      {tables.length > 0 && <h4>Tables</h4>}
      {tables.map(([name, table]) => (
        <TableView key={name} name={name} table={table} testId={`mlpipe-table-${t}-${name}`} />
      ))}
      {(step.images?.length ?? 0) > 0 && <h4>Images</h4>}
      <div className="mp-images">
        {step.images?.map((img) => (
          <figure key={img.name} className="mp-figure">
            <img src={href(img.url)} alt={img.description || img.name} data-testid={`mlpipe-image-${t}-${img.name}`} />
            <figcaption>
              {img.name}
              {img.description ? ` — ${img.description}` : ""}
            </figcaption>
          </figure>
        ))}
      </div>
      <h4>Outputs</h4>
      {step.outputs?.length ? (
        <table className="mp-table" data-testid={`mlpipe-outputs-${t}`}>
          <thead>
            <tr>
              <th>Output</th>
              <th>Datastore</th>
              <th>Path</th>
              <th>Files</th>
              <th>Size</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {step.outputs.map((o) => (
              <tr key={o.name}>
                <td>{o.name}</td>
                <td>{o.datastore ?? "–"}</td>
                <td className="mp-small">{o.path ?? "–"}</td>
                <td>{o.files ?? "–"}</td>
                <td>{formatBytes(o.bytes)}</td>
                <td>
                  {o.download_url && (
                    <A to={o.download_url} download testId={`mlpipe-download-${t}-${o.name}`}>
                      Download
                    </A>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="mp-muted">No outputs.</p>
      )}
      {Object.keys(step.tags ?? {}).length > 0 && (
        <>
          <h4>Tags</h4>
          <KeyValues values={step.tags} empty="" />
        </>
      )}
    </div>
  );
}

/** Loads a step's record (again whenever its status changes) and shows it. */
export function StepSection(props: { dagId: string; runId: string; taskId: string; status?: string; params?: boolean }) {
  const { dagId, runId, taskId, status } = props;
  const step = useApi<StepDetail>(() => api(links.stepApi(dagId, runId, taskId)), [dagId, runId, taskId, status], {
    every: 3000,
    while: (d) => status === undefined && !isTerminal(d.status),
  });
  if (step.error && !step.data) return <Problem error={step.error} what={`step ${taskId}`} />;
  if (!step.data) return <Loading what={`step ${taskId}`} />;
  return (
    <>
      <StepBody step={step.data} dagId={dagId} runId={runId} />
      {props.params && (
        <>
          <h4>Parameters</h4>
          <KeyValues values={step.data.parameters} testId={`mlpipe-params-${taskId}`} empty="No parameters." />
        </>
      )}
    </>
  );
}
