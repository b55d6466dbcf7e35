/**
 * A browser without JavaScript, as our pages are designed to work: keeps cookies, follows
 * redirects on the authorization server's origin, and submits the page's forms with their hidden
 * fields. It stops at the first redirect that leaves the authorization server (the client's
 * callback) and returns that URL without requesting it.
 */
export interface ApproveOptions {
  email: string;
  password: string;
  decision?: 'allow' | 'deny';
  /** Request the callback URL too (for clients that listen on it). */
  visitCallback?: boolean;
}

interface Form {
  action: string;
  fields: Record<string, string>;
}

function forms(html: string, pageUrl: string): Form[] {
  const out: Form[] = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const action = /action="([^"]*)"/i.exec(m[1]!)?.[1] ?? pageUrl;
    const fields: Record<string, string> = {};
    for (const i of m[2]!.matchAll(/<input\b([^>]*)>/gi)) {
      const name = /name="([^"]*)"/i.exec(i[1]!)?.[1];
      if (name) fields[name] = decode(/value="([^"]*)"/i.exec(i[1]!)?.[1] ?? '');
    }
    out.push({ action: new URL(decode(action), pageUrl).toString(), fields });
  }
  return out;
}

function decode(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

export class FormBrowser {
  private readonly cookies = new Map<string, string>();
  /** Every page visited (URL, status), for assertions and debugging. */
  readonly history: { url: string; status: number }[] = [];

  private header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const res = await fetch(url, {
      method: init.method ?? 'GET',
      redirect: 'manual',
      headers: {
        cookie: this.header(),
        ...(init.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      body: init.form ? new URLSearchParams(init.form).toString() : undefined,
    });
    for (const c of res.headers.getSetCookie()) {
      const pair = c.split(';')[0]!;
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i), pair.slice(i + 1));
    }
    this.history.push({ url, status: res.status });
    return res;
  }

  /** Drives authorize → login → consent → the client's callback; returns the callback URL. */
  async approve(authorizationUrl: string, o: ApproveOptions): Promise<URL> {
    const origin = new URL(authorizationUrl).origin;
    let res = await this.request(authorizationUrl);
    let url = authorizationUrl;
    for (let step = 0; step < 12; step++) {
      const location = res.headers.get('location');
      if (location) {
        const next = new URL(location, url);
        if (next.origin !== origin) {
          if (o.visitCallback) await fetch(next, { redirect: 'manual' });
          return next;
        }
        url = next.toString();
        res = await this.request(url);
        continue;
      }
      const html = await res.text();
      const [form] = forms(html, url);
      if (!form) throw new Error(`page ${url} (${res.status}) has no form: ${html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)}`);
      if ('password' in form.fields) {
        res = await this.request(form.action, { method: 'POST', form: { ...form.fields, email: o.email, password: o.password } });
      } else {
        res = await this.request(form.action, { method: 'POST', form: { ...form.fields, decision: o.decision ?? 'allow' } });
      }
      url = form.action;
    }
    throw new Error('too many steps without reaching the client callback');
  }
}
