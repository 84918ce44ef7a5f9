// A small dependency-free SVG: throughput and p95 time-to-merge against p, one line per strategy.
import type { StrategyName } from './engine';

interface Point {
  p: number;
  strategies: Record<StrategyName, { merges_per_hour: number; p95_minutes: number }>;
}

const COLORS: Record<StrategyName, string> = {
  'build-master': '#1f77b4',
  'stop-the-world': '#d62728',
  'continue-everywhere': '#ff7f0e',
  'single-queue': '#7f7f7f',
};

function panel(
  points: Point[],
  metric: 'merges_per_hour' | 'p95_minutes',
  x0: number,
  title: string,
  unit: string,
  bound?: number,
): string {
  const width = 420;
  const height = 260;
  const left = x0 + 50;
  const top = 40;
  const plotW = width - 70;
  const plotH = height - 80;
  const ps = points.map((pt) => pt.p);
  const values = points.flatMap((pt) => Object.values(pt.strategies).map((m) => m[metric]));
  const yMax = Math.max(...values, bound ?? 0) * 1.1 || 1;
  const x = (p: number) => left + ((p - Math.min(...ps)) / (Math.max(...ps) - Math.min(...ps) || 1)) * plotW;
  const y = (v: number) => top + plotH - (v / yMax) * plotH;
  const parts: string[] = [];
  parts.push(`<text x="${left + plotW / 2}" y="${top - 16}" text-anchor="middle" font-size="14" font-weight="bold">${title}</text>`);
  parts.push(
    `<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/><line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333"/>`,
  );
  for (let i = 0; i <= 4; i++) {
    const v = (yMax / 4) * i;
    parts.push(
      `<line x1="${left}" y1="${y(v)}" x2="${left + plotW}" y2="${y(v)}" stroke="#ddd"/><text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="10">${v.toFixed(v < 10 ? 1 : 0)}</text>`,
    );
  }
  for (const p of ps) parts.push(`<text x="${x(p)}" y="${top + plotH + 14}" text-anchor="middle" font-size="10">${p}</text>`);
  parts.push(
    `<text x="${left + plotW / 2}" y="${top + plotH + 32}" text-anchor="middle" font-size="11">p (probability a merge breaks its lane)</text>`,
  );
  parts.push(
    `<text x="${x0 + 12}" y="${top + plotH / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 ${x0 + 12} ${top + plotH / 2})">${unit}</text>`,
  );
  if (bound !== undefined) {
    parts.push(
      `<line x1="${left}" y1="${y(bound)}" x2="${left + plotW}" y2="${y(bound)}" stroke="#2ca02c" stroke-dasharray="5,4"/><text x="${left + plotW - 4}" y="${y(bound) - 4}" text-anchor="end" font-size="10" fill="#2ca02c">bound (L merges per D)</text>`,
    );
  }
  for (const name of Object.keys(COLORS) as StrategyName[]) {
    const path = points.map((pt, i) => `${i ? 'L' : 'M'}${x(pt.p).toFixed(1)},${y(pt.strategies[name][metric]).toFixed(1)}`).join(' ');
    parts.push(`<path d="${path}" fill="none" stroke="${COLORS[name]}" stroke-width="2"/>`);
    for (const pt of points)
      parts.push(`<circle cx="${x(pt.p).toFixed(1)}" cy="${y(pt.strategies[name][metric]).toFixed(1)}" r="2.5" fill="${COLORS[name]}"/>`);
  }
  return parts.join('\n');
}

export function chart(points: Point[], bound: number): string {
  const legend = (Object.keys(COLORS) as StrategyName[])
    .map(
      (name, i) =>
        `<rect x="${60 + i * 200}" y="292" width="12" height="12" fill="${COLORS[name]}"/><text x="${78 + i * 200}" y="302" font-size="12">${name}</text>`,
    )
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="860" height="320" viewBox="0 0 860 320" font-family="sans-serif">
<rect width="860" height="320" fill="#fff"/>
${panel(points, 'merges_per_hour', 0, 'Throughput', 'merges per hour', bound)}
${panel(points, 'p95_minutes', 430, 'p95 time from ready to merged', 'minutes')}
${legend}
</svg>
`;
}
