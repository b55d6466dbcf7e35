import type { Page } from 'playwright-core';
import { expect } from 'vitest';

/** What a page looks like to an accessibility check, measured in the browser from computed styles. */
export interface PageAudit {
  lang: string;
  viewport: string;
  title: string;
  h1: string[];
  /** Visible form controls with no label (for=, wrapping <label>, aria-label or aria-labelledby). */
  unlabeled: string[];
  /** Buttons and links without an accessible name. */
  unnamed: string[];
  /** Every element with its own text: WCAG contrast ratio of its colour against the background behind it. */
  contrast: { element: string; text: string; ratio: number }[];
  /** The page is wider than the viewport (horizontal scrolling). */
  overflows: boolean;
}

/** Runs the audit in the page. Backgrounds are found by walking up to the first opaque ancestor. */
export function auditPage(page: Page): Promise<PageAudit> {
  return page.evaluate(() => {
    type Rgba = [number, number, number, number];
    const parse = (c: string): Rgba => {
      const n = c.match(/[\d.]+/g)?.map(Number) ?? [0, 0, 0, 0];
      return [n[0] ?? 0, n[1] ?? 0, n[2] ?? 0, n[3] ?? 1];
    };
    const lum = ([r, g, b]: Rgba): number => {
      const ch = (v: number) => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b);
    };
    const background = (el: Element | null): Rgba => {
      for (let e = el; e; e = e.parentElement) {
        const bg = parse(getComputedStyle(e).backgroundColor);
        if (bg[3] > 0.5) return bg;
      }
      return [255, 255, 255, 1];
    };
    const describe = (el: Element) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className ? `.${String(el.className).replace(/ /g, '.')}` : ''}`;
    const visible = (el: Element) => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
    };

    const contrast: PageAudit['contrast'] = [];
    for (const el of document.body.querySelectorAll('*')) {
      const own = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent ?? '').join('').trim();
      if (!own || !visible(el)) continue;
      const fg = lum(parse(getComputedStyle(el).color));
      const bg = lum(background(el));
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      contrast.push({ element: describe(el), text: own.slice(0, 40), ratio: Math.round(ratio * 100) / 100 });
    }

    const unlabeled = [...document.querySelectorAll('input:not([type="hidden"]), select, textarea')]
      .filter((el) => visible(el))
      .filter((el) => {
        const labels = (el as HTMLInputElement).labels;
        const labelText = labels ? [...labels].map((l) => l.textContent ?? '').join('').trim() : '';
        return !labelText && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby');
      })
      .map(describe);
    const unnamed = [...document.querySelectorAll('button, a[href]')]
      .filter((el) => !(el.textContent ?? '').trim() && !el.getAttribute('aria-label'))
      .map(describe);

    return {
      lang: document.documentElement.lang,
      viewport: document.querySelector('meta[name="viewport"]')?.getAttribute('content') ?? '',
      title: document.title,
      h1: [...document.querySelectorAll('h1')].map((h) => (h.textContent ?? '').trim()),
      unlabeled,
      unnamed,
      contrast,
      overflows: document.documentElement.scrollWidth > document.documentElement.clientWidth,
    };
  });
}

/** The elements that receive focus when pressing Tab `n` times from the top of the page. */
export async function tabOrder(page: Page, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    await page.keyboard.press('Tab');
    out.push(await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return 'body';
      const name = el.getAttribute('name');
      return `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${name ? `[${name}${el.getAttribute('value') ? `=${el.getAttribute('value')}` : ''}]` : ''}`;
    }));
  }
  return out;
}

/**
 * What every page of ours must be at any width (auditPage): English, one h1, every control
 * labelled, every button and link named, text at WCAG AA contrast (4.5:1), no horizontal scroll.
 */
export async function expectReadable(page: Page, where: string): Promise<void> {
  const a = await auditPage(page);
  expect(a.lang).toBe('en');
  expect(a.h1).toHaveLength(1);
  expect(a.unlabeled).toEqual([]);
  expect(a.unnamed).toEqual([]);
  expect(a.contrast.filter((c) => c.ratio < 4.5), `low contrast on ${where}`).toEqual([]);
  expect(a.overflows, `horizontal scroll on ${where}`).toBe(false);
}
