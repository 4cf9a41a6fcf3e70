// The console's traffic charts: a ring of samples kept in the page, drawn as SVG polylines by hand.
const SVG = "http://www.w3.org/2000/svg";
const W = 300;
const H = 80;

/** The last `size` values pushed, oldest first. */
export class Ring {
  constructor(size) {
    this.size = size;
    this.values = [];
  }

  push(v) {
    this.values.push(v);
    if (this.values.length > this.size) this.values.shift();
  }
}

const svgEl = (name, attrs) => {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
};

/** Redraws `svg` with the ring's values: a line scaled to its largest value, and that value as a label. */
export function drawChart(svg, ring) {
  const values = ring.values;
  const max = Math.max(1, ...values);
  const step = W / Math.max(1, ring.size - 1);
  const x0 = W - (values.length - 1) * step;
  const points = values.map((v, i) => `${(x0 + i * step).toFixed(1)},${(H - 2 - (v / max) * (H - 14)).toFixed(1)}`);
  const label = svgEl("text", { x: 4, y: 11, class: "chart-label" });
  label.textContent = `max ${Number.isInteger(max) ? max : max.toFixed(1)}`;
  svg.replaceChildren(
    svgEl("line", { x1: 0, y1: H - 2, x2: W, y2: H - 2, class: "chart-axis" }),
    svgEl("polyline", { points: points.join(" "), class: "chart-line" }),
    label,
  );
}

/** One value of a Prometheus text exposition: the first sample of `name` with no labels. */
export function metric(text, name) {
  const m = new RegExp(`^${name} ([0-9.eE+-]+)$`, "m").exec(text);
  return m ? Number(m[1]) : Number.NaN;
}
