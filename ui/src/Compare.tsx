// Compare runs of one pipeline DAG: pick runs, plot one metric across them (SVG) and list their
// parameters against their metrics. The selection lives in the page's query string.
import { useMemo } from "react";

import { api, links, type Comparison } from "./api";
import { A, formatTime, formatValue, Loading, Problem, Status, useApi } from "./common";
import { LinePlot, type Point } from "./LinePlot";

export interface CompareState {
  dagId?: string;
  runIds: string[];
  metric?: string;
  x?: string;
}

const byStart = (a: { start_date?: string | null }, b: { start_date?: string | null }) =>
  (a.start_date ?? "").localeCompare(b.start_date ?? "");

export function Compare(props: { state: CompareState; dagIds: string[]; set: (s: CompareState) => void }) {
  const { state, set } = props;
  const all = useApi<Comparison>(
    state.dagId ? () => api("compare", [["dag_id", state.dagId!], ["limit", "200"]]) : null,
    [state.dagId],
  );
  const data = all.data;
  const selected = useMemo(() => {
    if (!data) return [];
    const wanted = state.runIds.length ? new Set(state.runIds) : new Set(data.runs.slice(0, 10).map((r) => r.run_id));
    return data.runs.filter((r) => wanted.has(r.run_id)).sort(byStart);
  }, [data, state.runIds]);
  const metric = state.metric && data?.metric_names.includes(state.metric) ? state.metric : data?.metric_names[0];
  const numericParams = (data?.parameter_names ?? []).filter(
    (p) => selected.length > 0 && selected.every((r) => typeof r.parameters[p] === "number"),
  );
  const x = state.x && numericParams.includes(state.x) ? state.x : "";
  const points: Point[] = metric
    ? selected.flatMap((r, i) => {
        const y = r.metrics[metric];
        if (typeof y !== "number") return [];
        return [{ x: x ? (r.parameters[x] as number) : i + 1, y, label: r.run_id }];
      })
    : [];
  const xTicks = x ? undefined : selected.map((_r, i) => ({ x: i + 1, y: 0, label: `#${i + 1}` }));
  const toggle = (runId: string) => {
    const cur = selected.map((r) => r.run_id);
    set({ ...state, runIds: cur.includes(runId) ? cur.filter((r) => r !== runId) : [...cur, runId] });
  };
  return (
    <div data-testid="mlpipe-compare">
      <div className="mp-controls">
        <label>
          Pipeline DAG{" "}
          <select
            value={state.dagId ?? ""}
            data-testid="mlpipe-compare-dag"
            onChange={(e) => set({ dagId: e.target.value || undefined, runIds: [] })}
          >
            <option value="">– choose –</option>
            {[...new Set([...props.dagIds, ...(state.dagId ? [state.dagId] : [])])].map((d) => (
              <option key={d} value={d}>
                {d}
              </option>
            ))}
          </select>
        </label>
        {data && (
          <>
            <label>
              Metric{" "}
              <select value={metric ?? ""} data-testid="mlpipe-compare-metric" onChange={(e) => set({ ...state, metric: e.target.value })}>
                {data.metric_names.map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </select>
            </label>
            <label>
              X axis{" "}
              <select value={x} data-testid="mlpipe-compare-x" onChange={(e) => set({ ...state, x: e.target.value })}>
                <option value="">run (oldest first)</option>
                {numericParams.map((p) => (
                  <option key={p}>{p}</option>
                ))}
              </select>
            </label>
          </>
        )}
      </div>
      {!state.dagId && <p className="mp-muted">Choose a pipeline DAG to compare its runs.</p>}
      <Problem error={all.error} what="the runs to compare" />
      {state.dagId && !data && !all.error && <Loading what="runs" />}
      {data && (
        <>
          {metric ? (
            <LinePlot points={points} xLabel={x || "run"} yLabel={metric} xTicks={xTicks} />
          ) : (
            <p className="mp-muted">The runs of {data.dag_id} logged no numeric metrics.</p>
          )}
          <h3>Runs</h3>
          <div className="mp-scroll">
            <table className="mp-table" data-testid="mlpipe-compare-table">
              <thead>
                <tr>
                  <th />
                  <th>Run</th>
                  <th>Status</th>
                  <th>Started</th>
                  {data.parameter_names.map((p) => (
                    <th key={`p-${p}`} className="mp-param">
                      {p}
                    </th>
                  ))}
                  {data.metric_names.map((m) => (
                    <th key={`m-${m}`} className="mp-metric">
                      {m}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {data.runs.map((r) => {
                  const on = selected.some((s) => s.run_id === r.run_id);
                  return (
                    <tr key={r.run_id} className={on ? "mp-selected" : undefined} data-testid={`mlpipe-compare-row-${r.run_id}`}>
                      <td>
                        <input type="checkbox" checked={on} onChange={() => toggle(r.run_id)} aria-label={`select ${r.run_id}`} />
                      </td>
                      <td>
                        <A to={links.run(data.dag_id, r.run_id)}>{r.run_id}</A>
                      </td>
                      <td>
                        <Status status={r.status} />
                      </td>
                      <td>{formatTime(r.start_date)}</td>
                      {data.parameter_names.map((p) => (
                        <td key={`p-${p}`} data-testid={`mlpipe-compare-param-${r.run_id}-${p}`}>
                          {formatValue(r.parameters[p])}
                        </td>
                      ))}
                      {data.metric_names.map((m) => (
                        <td key={`m-${m}`} data-testid={`mlpipe-compare-metric-${r.run_id}-${m}`}>
                          {formatValue(r.metrics[m])}
                        </td>
                      ))}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          {data.total_entries > data.runs.length && (
            <p className="mp-muted">
              Showing the newest {data.runs.length} of {data.total_entries} runs.
            </p>
          )}
        </>
      )}
    </div>
  );
}
