import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { FormBrowser } from './form-browser.ts';

/**
 * An OAuthClientProvider as a desktop MCP client implements it, except that "opening the browser"
 * drives our login and consent pages with FormBrowser and records the callback URL.
 */
export class TestOAuthProvider implements OAuthClientProvider {
  clientInfo: OAuthClientInformationMixed | undefined;
  savedTokens: OAuthTokens | undefined;
  verifier = '';
  lastState = '';
  callback: URL | undefined;
  readonly browser = new FormBrowser();
  constructor(
    private readonly login: { email: string; password: string; decision?: 'allow' | 'deny' },
    readonly redirectUrl = 'http://127.0.0.1:43219/callback',
  ) {}

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'SDK end-to-end client',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state(): string {
    this.lastState = crypto.randomUUID();
    return this.lastState;
  }
  clientInformation() { return this.clientInfo; }
  saveClientInformation(info: OAuthClientInformationMixed) { this.clientInfo = info; }
  tokens() { return this.savedTokens; }
  saveTokens(t: OAuthTokens) { this.savedTokens = t; }
  saveCodeVerifier(v: string) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
  async redirectToAuthorization(url: URL): Promise<void> {
    this.callback = await this.browser.approve(url.toString(), this.login);
  }
  /** The code from the callback, after checking state (the SDK leaves that to the caller). */
  takeCode(): string {
    if (!this.callback) throw new Error('no authorization callback');
    if (this.callback.searchParams.get('state') !== this.lastState) throw new Error('state mismatch');
    const code = this.callback.searchParams.get('code');
    if (!code) throw new Error(`authorization failed: ${this.callback.searchParams.get('error')}`);
    return code;
  }
}
