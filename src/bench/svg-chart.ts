/** The bits of SVG that plot.svg and learning-curve.svg share: line panels, a legend, escaping. */

export const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];
const MARGIN = { left: 64, right: 16, top: 36, bottom: 44 };
export const PANEL_HEIGHT = 260;

export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export interface LinePanel {
  title: string;
  yLabel: string;
  xLabel: string;
  /** Ticks on the x axis: a position from 0 (left) to 1 (right) and its label. */
  xTicks: Array<{ at: number; label: string }>;
  /** One line per series, in legend order; x from 0 to 1, y from 0 to `max`. */
  lines: Array<Array<{ at: number; value: number }>>;
  max: number;
  width: number;
  x0: number;
  y0: number;
  format: (value: number) => string;
}

/** One line chart with its axes, three y ticks (0, half, max) and the given x ticks. */
export function linePanel(panel: LinePanel): string {
  const { x0, y0, width } = panel;
  const innerWidth = width - MARGIN.left - MARGIN.right;
  const innerHeight = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const top = Math.max(1e-9, panel.max);
  const xOf = (at: number) => x0 + MARGIN.left + at * innerWidth;
  const yOf = (value: number) => y0 + MARGIN.top + innerHeight - (value / top) * innerHeight;
  const parts = [
    `<text x="${x0 + width / 2}" y="${y0 + 20}" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(panel.title)}</text>`,
    `<line x1="${x0 + MARGIN.left}" y1="${y0 + MARGIN.top + innerHeight}" x2="${x0 + MARGIN.left + innerWidth}" y2="${y0 + MARGIN.top + innerHeight}" stroke="#333"/>`,
    `<line x1="${x0 + MARGIN.left}" y1="${y0 + MARGIN.top}" x2="${x0 + MARGIN.left}" y2="${y0 + MARGIN.top + innerHeight}" stroke="#333"/>`,
    `<text x="${x0 + 14}" y="${y0 + MARGIN.top + innerHeight / 2}" font-size="11" transform="rotate(-90 ${x0 + 14} ${y0 + MARGIN.top + innerHeight / 2})" text-anchor="middle">${escapeXml(panel.yLabel)}</text>`,
  ];
  for (const tick of [0, 0.5, 1]) {
    parts.push(
      `<text x="${x0 + MARGIN.left - 6}" y="${yOf(tick * top) + 4}" font-size="10" text-anchor="end">${escapeXml(panel.format(tick * top))}</text>`,
    );
  }
  for (const tick of panel.xTicks) {
    parts.push(
      `<text x="${xOf(tick.at)}" y="${y0 + MARGIN.top + innerHeight + 16}" font-size="10" text-anchor="middle">${escapeXml(tick.label)}</text>`,
    );
  }
  parts.push(
    `<text x="${x0 + MARGIN.left + innerWidth / 2}" y="${y0 + PANEL_HEIGHT - 6}" font-size="11" text-anchor="middle">${escapeXml(panel.xLabel)}</text>`,
  );
  panel.lines.forEach((line, index) => {
    const color = COLORS[index % COLORS.length];
    const points = line.map((point) => `${xOf(point.at).toFixed(1)},${yOf(point.value).toFixed(1)}`);
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(" ")}"/>`);
    for (const point of points) {
      const [cx, cy] = point.split(",");
      parts.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${color}"/>`);
    }
  });
  return parts.join("\n");
}

/** A whole SVG document: a white page, the panels, and a legend of the series along the bottom. */
export function svgDocument(
  width: number,
  height: number,
  panels: string[],
  series: string[],
  spacing: number,
): string {
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...panels,
  ];
  series.forEach((name, index) => {
    const x = 20 + index * spacing;
    const y = height - 16;
    parts.push(
      `<rect x="${x}" y="${y - 9}" width="12" height="12" fill="${COLORS[index % COLORS.length]}"/>`,
    );
    parts.push(`<text x="${x + 18}" y="${y + 1}" font-size="12">${escapeXml(name)}</text>`);
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
