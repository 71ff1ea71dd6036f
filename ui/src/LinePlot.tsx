// A metric across runs as an SVG line plot: x is the run order or a numeric parameter, y the metric.

export interface Point {
  x: number;
  y: number;
  label: string;
}

function ticks(lo: number, hi: number, n = 5): number[] {
  if (lo === hi) return [lo];
  const step = (hi - lo) / (n - 1);
  return Array.from({ length: n }, (_, i) => lo + i * step);
}

const fmt = (v: number) => (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : String(+v.toPrecision(4)));

export function LinePlot(props: { points: Point[]; xLabel: string; yLabel: string; xTicks?: Point[] }) {
  const { points, xLabel, yLabel } = props;
  const width = 640;
  const height = 300;
  const m = { left: 64, right: 20, top: 16, bottom: 48 };
  if (!points.length) return <p className="mp-muted">No numeric values of {yLabel} in the selected runs.</p>;
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - (Math.abs(y0) || 1) * 0.1, y1 + (Math.abs(y1) || 1) * 0.1];
  const sx = (x: number) => m.left + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (width - m.left - m.right);
  const sy = (y: number) => height - m.bottom - ((y - y0) / (y1 - y0)) * (height - m.top - m.bottom);
  const sorted = [...points].sort((a, b) => a.x - b.x);
  const xt = props.xTicks ?? ticks(x0, x1).map((x) => ({ x, y: 0, label: fmt(x) }));
  return (
    <svg
      className="mp-plot"
      data-testid="mlpipe-compare-plot"
      viewBox={`0 0 ${width} ${height}`}
      width={width}
      height={height}
      role="img"
      aria-label={`${yLabel} by ${xLabel}`}
    >
      {ticks(y0, y1).map((y) => (
        <g key={`y${y}`}>
          <line className="mp-grid" x1={m.left} x2={width - m.right} y1={sy(y)} y2={sy(y)} />
          <text className="mp-axis" x={m.left - 6} y={sy(y) + 4} textAnchor="end">
            {fmt(y)}
          </text>
        </g>
      ))}
      {xt.map((t) => (
        <text key={`x${t.x}`} className="mp-axis" x={sx(t.x)} y={height - m.bottom + 16} textAnchor="middle">
          {t.label}
        </text>
      ))}
      <line className="mp-axis-line" x1={m.left} x2={width - m.right} y1={height - m.bottom} y2={height - m.bottom} />
      <line className="mp-axis-line" x1={m.left} x2={m.left} y1={m.top} y2={height - m.bottom} />
      <text className="mp-axis-title" x={(m.left + width - m.right) / 2} y={height - 8} textAnchor="middle">
        {xLabel}
      </text>
      <text className="mp-axis-title" transform={`translate(14,${(m.top + height - m.bottom) / 2}) rotate(-90)`} textAnchor="middle">
        {yLabel}
      </text>
      <polyline className="mp-line" points={sorted.map((p) => `${sx(p.x)},${sy(p.y)}`).join(" ")} />
      {sorted.map((p, i) => (
        <circle key={i} className="mp-dot" cx={sx(p.x)} cy={sy(p.y)} r={4.5} data-testid="mlpipe-compare-point">
          <title>{`${p.label}: ${fmt(p.y)}`}</title>
        </circle>
      ))}
    </svg>
  );
}
