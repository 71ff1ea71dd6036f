// The run's step graph as SVG: steps in layers by dependency depth (a step sits one layer right of
// its deepest upstream), edges as curves, each step with its status, duration and a reuse badge.
import { useEffect, useState } from "react";

import { airflowLink, href, links, type StepNode } from "./api";
import { formatDuration, isTerminal } from "./common";

const W = 200;
const H = 62;
const GAP_X = 70;
const GAP_Y = 22;
const PAD = 12;
const LIFT = 36;

/** Layer of every step: 0 for steps without upstreams, else 1 + the deepest upstream's layer. */
export function layers(steps: string[], edges: [string, string][]): Map<string, number> {
  const ups = new Map<string, string[]>(steps.map((s) => [s, []]));
  for (const [u, d] of edges) if (ups.has(u) && ups.has(d)) ups.get(d)!.push(u);
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const visit = (s: string): number => {
    if (depth.has(s)) return depth.get(s)!;
    if (visiting.has(s)) return 0; // a cycle cannot come from a DAG; don't loop if it does
    visiting.add(s);
    const d = Math.max(-1, ...ups.get(s)!.map(visit)) + 1;
    visiting.delete(s);
    depth.set(s, d);
    return d;
  };
  steps.forEach(visit);
  return depth;
}

function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

/** Duration of a step; a running step's grows live from its start. */
export function liveDuration(step: StepNode, now: number): number | null {
  if (step.duration_s != null) return step.duration_s;
  if (step.start_date && !isTerminal(step.status)) return (now - new Date(step.start_date).getTime()) / 1000;
  return null;
}

const short = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export function StepGraph(props: { dagId: string; runId: string; steps: StepNode[]; edges: [string, string][] }) {
  const { steps, edges, dagId, runId } = props;
  const now = useNow(steps.some((s) => s.status === "Running"));
  const depth = layers(
    steps.map((s) => s.task_id),
    edges,
  );
  const columns: StepNode[][] = [];
  for (const s of steps) (columns[depth.get(s.task_id) ?? 0] ??= []).push(s);
  // an edge that skips layers arcs over the steps between: leave room above the first row for it
  const span = (u: string, d: string) => (depth.get(d) ?? 0) - (depth.get(u) ?? 0);
  const top = PAD + (edges.some(([u, d]) => span(u, d) > 1) ? LIFT : 0);
  const pos = new Map<string, { x: number; y: number }>();
  columns.forEach((col, i) =>
    col.forEach((s, j) => pos.set(s.task_id, { x: PAD + i * (W + GAP_X), y: top + j * (H + GAP_Y) })),
  );
  const width = PAD * 2 + columns.length * W + Math.max(0, columns.length - 1) * GAP_X;
  const height = top + PAD + Math.max(1, ...columns.map((c) => c?.length ?? 0)) * (H + GAP_Y) - GAP_Y;
  return (
    <svg
      className="mp-graph"
      data-testid="mlpipe-graph"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label="Step graph"
    >
      <defs>
        <marker id="mp-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">
          <path d="M0,0 L10,5 L0,10 z" className="mp-edge-head" />
        </marker>
      </defs>
      {edges.map(([u, d]) => {
        const a = pos.get(u);
        const b = pos.get(d);
        if (!a || !b) return null;
        const x1 = a.x + W;
        const y1 = a.y + H / 2;
        const x2 = b.x;
        const y2 = b.y + H / 2;
        const mx = (x1 + x2) / 2;
        const d_ =
          span(u, d) > 1
            ? `M${a.x + W / 2},${a.y} C${a.x + W / 2},${Math.min(a.y, b.y) - LIFT} ${b.x + W / 2},${Math.min(a.y, b.y) - LIFT} ${b.x + W / 2},${b.y - 2}`
            : `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 2},${y2}`;
        return (
          <path
            key={`${u}->${d}`}
            data-testid={`mlpipe-edge-${u}-${d}`}
            className="mp-edge"
            d={d_}
            markerEnd="url(#mp-arrow)"
          />
        );
      })}
      {steps.map((s) => {
        const p = pos.get(s.task_id)!;
        const status = s.status.toLowerCase();
        return (
          <g key={s.task_id} transform={`translate(${p.x},${p.y})`} data-testid={`mlpipe-step-${s.task_id}`}>
            <title>{`${s.name ?? s.task_id} (${s.kind ?? "step"}): ${s.status}${s.reason ? ` — ${s.reason}` : ""}`}</title>
            <a {...airflowLink(href(s.url ?? links.step(dagId, runId, s.task_id)))}>
              <rect className={`mp-node mp-node-${status}`} width={W} height={H} rx={8} />
              <rect className={`mp-node-bar mp-status-${status}`} width={6} height={H} rx={3} />
              <text x={14} y={22} className="mp-node-name">
                {short(s.name ?? s.task_id, 22)}
              </text>
              <text x={14} y={44} className="mp-node-sub" data-testid={`mlpipe-step-status-${s.task_id}`}>
                {s.status} · {formatDuration(liveDuration(s, now))}
              </text>
            </a>
            {s.reused && (
              <a
                {...(s.reused_from ? airflowLink(href(s.reused_from.url ?? links.run(s.reused_from.dag_id, s.reused_from.run_id))) : {})}
                data-testid={`mlpipe-reuse-badge-${s.task_id}`}
              >
                <title>{s.reused_from ? `Reused the result of run ${s.reused_from.run_id}` : "Reused"}</title>
                <rect className="mp-badge-reused" x={W - 64} y={30} width={56} height={20} rx={10} />
                <text className="mp-badge-text" x={W - 36} y={44} textAnchor="middle">
                  Reused
                </text>
              </a>
            )}
          </g>
        );
      })}
    </svg>
  );
}
