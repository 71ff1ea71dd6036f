// The pages' CSS, scoped under .mp-root and injected by the component itself (one JS file, no CSS
// file to load). Colours follow the host's text colour so Airflow's light and dark modes both work.
export const CSS = `
.mp-root{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:inherit;padding:8px 4px}
.mp-root h2{font-size:20px;font-weight:600;margin:0}
.mp-root h3{font-size:16px;font-weight:600;margin:16px 0 8px}
.mp-root h4{font-size:13px;font-weight:600;margin:14px 0 6px;text-transform:uppercase;letter-spacing:.04em;opacity:.75}
.mp-root a{color:#2563eb;text-decoration:none}
.mp-root a:hover{text-decoration:underline}
.mp-header{display:flex;gap:14px;align-items:center;flex-wrap:wrap;margin-bottom:12px}
.mp-muted{opacity:.65}
.mp-small{font-size:12px}
.mp-scroll{overflow-x:auto}
.mp-table{border-collapse:collapse;margin:4px 0 8px;font-size:13px}
.mp-table th,.mp-table td{border-bottom:1px solid rgba(128,128,128,.3);padding:4px 10px;text-align:left;vertical-align:top}
.mp-table thead th{font-weight:600;border-bottom-width:2px}
.mp-table tbody th{font-weight:500;opacity:.85}
.mp-table .mp-metric{color:#7c3aed}
.mp-selected{background:rgba(37,99,235,.08)}
.mp-card{border:1px solid rgba(128,128,128,.3);border-radius:8px;padding:8px 14px;margin:10px 0}
.mp-card-head{display:flex;gap:12px;align-items:baseline;flex-wrap:wrap}
.mp-columns{display:flex;gap:32px;flex-wrap:wrap}
.mp-tabs{display:flex;gap:4px;border-bottom:1px solid rgba(128,128,128,.35);margin-bottom:8px}
.mp-tab{background:none;border:0;border-bottom:2px solid transparent;padding:6px 12px;color:inherit;font:inherit;cursor:pointer}
.mp-tab-on{border-bottom-color:#2563eb;font-weight:600}
.mp-controls{display:flex;gap:18px;flex-wrap:wrap;margin:8px 0}
.mp-controls select{font:inherit;padding:2px 4px;color:inherit;background:transparent;border:1px solid rgba(128,128,128,.5);border-radius:4px}
.mp-controls option{color:#111}
.mp-status{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;color:#fff;background:#6b7280}
.mp-status-finished{background:#15803d}.mp-status-failed{background:#b91c1c}.mp-status-running{background:#2563eb}
.mp-status-queued,.mp-status-notstarted,.mp-status-preparing{background:#6b7280}.mp-status-canceled{background:#c2410c}
.mp-badge{display:inline-block;border-radius:10px;padding:0 8px;margin-left:6px;font-size:12px;font-weight:600;background:#ede9fe;color:#5b21b6}
.mp-notice{border:1px solid rgba(128,128,128,.4);border-radius:8px;padding:12px 16px;margin:8px 0}
.mp-problem{border:1px solid #b91c1c;color:#b91c1c;border-radius:8px;padding:8px 12px;margin:8px 0}
.mp-facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:4px 0}
.mp-facts dt{font-weight:600;opacity:.75}.mp-facts dd{margin:0}
.mp-figure{margin:6px 16px 6px 0;display:inline-block;vertical-align:top}
.mp-figure figcaption{font-size:12px;opacity:.75}
.mp-images img{max-width:420px;max-height:320px;border:1px solid rgba(128,128,128,.3);border-radius:4px;background:#fff}
.mp-graph{display:block;margin:4px 0 8px}.mp-root .mp-graph a{color:inherit;text-decoration:none}
.mp-node{fill:rgba(128,128,128,.08);stroke:rgba(128,128,128,.6);stroke-width:1}
.mp-node-running{stroke:#2563eb;stroke-width:2}.mp-node-failed{stroke:#b91c1c;stroke-width:2}
.mp-node-bar.mp-status-finished{fill:#15803d}.mp-node-bar.mp-status-failed{fill:#b91c1c}.mp-node-bar.mp-status-running{fill:#2563eb}
.mp-node-bar.mp-status-canceled{fill:#c2410c}.mp-node-bar{fill:#9ca3af}
.mp-node-name{fill:currentColor;font-size:14px;font-weight:600}
.mp-node-sub{fill:currentColor;font-size:12px;opacity:.75}
.mp-badge-reused{fill:#ede9fe;stroke:#7c3aed}
.mp-badge-text{fill:#5b21b6;font-size:11px;font-weight:700}
.mp-edge{fill:none;stroke:rgba(128,128,128,.8);stroke-width:1.5}
.mp-edge-head{fill:rgba(128,128,128,.8)}
.mp-plot{display:block;max-width:100%;height:auto;margin:8px 0}
.mp-grid{stroke:rgba(128,128,128,.2)}.mp-axis-line{stroke:rgba(128,128,128,.7)}
.mp-axis{fill:currentColor;font-size:11px;opacity:.8}.mp-axis-title{fill:currentColor;font-size:12px;font-weight:600}
.mp-line{fill:none;stroke:#2563eb;stroke-width:2}.mp-dot{fill:#2563eb;stroke:#fff;stroke-width:1.5}
`;
