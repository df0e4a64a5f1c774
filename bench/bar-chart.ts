// A small bar chart drawn straight into a PNG with pngjs: panels of bars with axes, grid lines,
// value labels and a 5x7 bitmap font (no text rendering library needed).
import { PNG } from 'pngjs';

type Rgb = readonly [number, number, number];

const GLYPHS: Readonly<Record<string, readonly string[]>> = {
  '0': [' ### ', '#   #', '#  ##', '# # #', '##  #', '#   #', ' ### '],
  '1': ['  #  ', ' ##  ', '  #  ', '  #  ', '  #  ', '  #  ', ' ### '],
  '2': [' ### ', '#   #', '    #', '   # ', '  #  ', ' #   ', '#####'],
  '3': ['#####', '   # ', '  #  ', '   # ', '    #', '#   #', ' ### '],
  '4': ['   # ', '  ## ', ' # # ', '#  # ', '#####', '   # ', '   # '],
  '5': ['#####', '#    ', '#### ', '    #', '    #', '#   #', ' ### '],
  '6': ['  ## ', ' #   ', '#    ', '#### ', '#   #', '#   #', ' ### '],
  '7': ['#####', '    #', '   # ', '  #  ', ' #   ', ' #   ', ' #   '],
  '8': [' ### ', '#   #', '#   #', ' ### ', '#   #', '#   #', ' ### '],
  '9': [' ### ', '#   #', '#   #', ' ####', '    #', '   # ', ' ##  '],
  A: [' ### ', '#   #', '#   #', '#####', '#   #', '#   #', '#   #'],
  B: ['#### ', '#   #', '#   #', '#### ', '#   #', '#   #', '#### '],
  C: [' ### ', '#   #', '#    ', '#    ', '#    ', '#   #', ' ### '],
  D: ['###  ', '#  # ', '#   #', '#   #', '#   #', '#  # ', '###  '],
  E: ['#####', '#    ', '#    ', '#### ', '#    ', '#    ', '#####'],
  F: ['#####', '#    ', '#    ', '#### ', '#    ', '#    ', '#    '],
  G: [' ### ', '#   #', '#    ', '# ###', '#   #', '#   #', ' ####'],
  H: ['#   #', '#   #', '#   #', '#####', '#   #', '#   #', '#   #'],
  I: [' ### ', '  #  ', '  #  ', '  #  ', '  #  ', '  #  ', ' ### '],
  J: ['  ###', '   # ', '   # ', '   # ', '   # ', '#  # ', ' ##  '],
  K: ['#   #', '#  # ', '# #  ', '##   ', '# #  ', '#  # ', '#   #'],
  L: ['#    ', '#    ', '#    ', '#    ', '#    ', '#    ', '#####'],
  M: ['#   #', '## ##', '# # #', '# # #', '#   #', '#   #', '#   #'],
  N: ['#   #', '#   #', '##  #', '# # #', '#  ##', '#   #', '#   #'],
  O: [' ### ', '#   #', '#   #', '#   #', '#   #', '#   #', ' ### '],
  P: ['#### ', '#   #', '#   #', '#### ', '#    ', '#    ', '#    '],
  Q: [' ### ', '#   #', '#   #', '#   #', '# # #', '#  # ', ' ## #'],
  R: ['#### ', '#   #', '#   #', '#### ', '# #  ', '#  # ', '#   #'],
  S: [' ####', '#    ', '#    ', ' ### ', '    #', '    #', '#### '],
  T: ['#####', '  #  ', '  #  ', '  #  ', '  #  ', '  #  ', '  #  '],
  U: ['#   #', '#   #', '#   #', '#   #', '#   #', '#   #', ' ### '],
  V: ['#   #', '#   #', '#   #', '#   #', '#   #', ' # # ', '  #  '],
  W: ['#   #', '#   #', '#   #', '# # #', '# # #', '# # #', ' # # '],
  X: ['#   #', '#   #', ' # # ', '  #  ', ' # # ', '#   #', '#   #'],
  Y: ['#   #', '#   #', ' # # ', '  #  ', '  #  ', '  #  ', '  #  '],
  Z: ['#####', '    #', '   # ', '  #  ', ' #   ', '#    ', '#####'],
  '.': ['     ', '     ', '     ', '     ', '     ', ' ##  ', ' ##  '],
  ',': ['     ', '     ', '     ', '     ', ' ##  ', '  #  ', ' #   '],
  '%': ['##   ', '##  #', '   # ', '  #  ', ' #   ', '#  ##', '   ##'],
  '-': ['     ', '     ', '     ', ' ### ', '     ', '     ', '     '],
  '/': ['     ', '    #', '   # ', '  #  ', ' #   ', '#    ', '     '],
  ':': ['     ', ' ##  ', ' ##  ', '     ', ' ##  ', ' ##  ', '     '],
  '(': ['   # ', '  #  ', ' #   ', ' #   ', ' #   ', '  #  ', '   # '],
  ')': [' #   ', '  #  ', '   # ', '   # ', '   # ', '  #  ', ' #   '],
  '+': ['     ', '  #  ', '  #  ', '#####', '  #  ', '  #  ', '     '],
  $: ['  #  ', ' ####', '# #  ', ' ### ', '  # #', '#### ', '  #  '],
  '=': ['     ', '     ', '#####', '     ', '#####', '     ', '     '],
  ' ': ['     ', '     ', '     ', '     ', '     ', '     ', '     '],
};

export class Canvas {
  readonly png: PNG;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [255, 255, 255],
  ) {
    this.png = new PNG({ width, height });
    this.rect(0, 0, width, height, background);
  }

  pixel(x: number, y: number, [r, g, b]: Rgb): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (Math.floor(y) * this.width + Math.floor(x)) * 4;
    this.png.data[i] = r;
    this.png.data[i + 1] = g;
    this.png.data[i + 2] = b;
    this.png.data[i + 3] = 255;
  }

  rect(x: number, y: number, w: number, h: number, color: Rgb): void {
    for (let yy = Math.round(y); yy < Math.round(y + h); yy++) for (let xx = Math.round(x); xx < Math.round(x + w); xx++) this.pixel(xx, yy, color);
  }

  hline(x0: number, x1: number, y: number, color: Rgb, dash = 0): void {
    for (let x = Math.round(x0); x <= Math.round(x1); x++) if (dash === 0 || Math.floor(x / dash) % 2 === 0) this.pixel(x, Math.round(y), color);
  }

  vline(x: number, y0: number, y1: number, color: Rgb): void {
    for (let y = Math.round(y0); y <= Math.round(y1); y++) this.pixel(Math.round(x), y, color);
  }

  static textWidth(text: string, scale: number): number {
    return text.length * 6 * scale - scale;
  }

  /** Upper-case bitmap text; characters without a glyph draw as blanks. */
  text(x: number, y: number, text: string, color: Rgb, scale = 2): void {
    let cx = Math.round(x);
    for (const ch of text.toUpperCase()) {
      const glyph = GLYPHS[ch] ?? GLYPHS[' ']!;
      glyph.forEach((row, gy) => {
        for (let gx = 0; gx < row.length; gx++) if (row[gx] === '#') this.rect(cx + gx * scale, y + gy * scale, scale, scale, color);
      });
      cx += 6 * scale;
    }
  }

  centeredText(cx: number, y: number, text: string, color: Rgb, scale = 2): void {
    this.text(cx - Canvas.textWidth(text, scale) / 2, y, text, color, scale);
  }

  encode(): Buffer {
    return PNG.sync.write(this.png);
  }
}

export interface Panel {
  readonly title: string;
  readonly values: readonly number[];
  readonly format: (v: number) => string;
}

export interface ChartSpec {
  readonly title: string;
  readonly subtitle: string;
  readonly labels: readonly string[];
  readonly colors: readonly Rgb[];
  readonly panels: readonly Panel[];
}

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}

export function drawBarChart(spec: ChartSpec): Buffer {
  const panelWidth = 420;
  const width = panelWidth * spec.panels.length + 40;
  const height = 560;
  const canvas = new Canvas(width, height);
  const ink: Rgb = [34, 34, 34];
  const grid: Rgb = [215, 215, 215];
  canvas.text(20, 16, spec.title, ink, 3);
  canvas.text(20, 48, spec.subtitle, [90, 90, 90], 2);
  spec.panels.forEach((panel, p) => {
    const left = 20 + p * panelWidth + 60;
    const right = 20 + (p + 1) * panelWidth - 20;
    const top = 120;
    const bottom = 460;
    canvas.centeredText((left + right) / 2, 90, panel.title, ink, 2);
    const finite = panel.values.filter((v) => Number.isFinite(v));
    const max = niceMax(Math.max(...finite, 0) * 1.1);
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      const y = bottom - ((bottom - top) * i) / 4;
      if (i > 0) canvas.hline(left + 1, right, y, grid, 4);
      const label = panel.format(v);
      canvas.text(left - 8 - Canvas.textWidth(label, 1), y - 3, label, [90, 90, 90], 1);
    }
    canvas.vline(left, top - 6, bottom, ink);
    canvas.hline(left, right, bottom, ink);
    const n = panel.values.length;
    const slot = (right - left) / n;
    const barWidth = Math.min(44, slot * 0.7);
    panel.values.forEach((v, i) => {
      const cx = left + slot * (i + 0.5);
      const h = Number.isFinite(v) ? ((bottom - top) * Math.max(0, v)) / max : 0;
      canvas.rect(cx - barWidth / 2, bottom - h, barWidth, h, spec.colors[i % spec.colors.length]!);
      canvas.centeredText(cx, bottom - h - 12, Number.isFinite(v) ? panel.format(v) : '-', ink, 1);
      const label = spec.labels[i] ?? '';
      canvas.centeredText(cx, bottom + 10 + (i % 2) * 16, label, ink, slot < 70 ? 1 : 2);
    });
  });
  return canvas.encode();
}
