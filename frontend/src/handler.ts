/**
 * The one way to call the executor API: `requestAPI`, through the server extension's proxy, under the
 * Jupyter server's own auth. Every failure becomes an `NbgateRequestError` carrying the server's message.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { API_NAMESPACE } from './tokens';

/** What went wrong, in the server's words (or ours when the server said nothing useful). */
export class NbgateRequestError extends Error {
  /** The HTTP status; 0 when the server could not be reached. */
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'NbgateRequestError';
    this.status = status;
  }
}

/**
 * The error for a non-2xx response: `{"message": …}` bodies are shown as they are; anything else gets a
 * sentence that says what happened.
 */
export function errorFromResponse(status: number, body: string): NbgateRequestError {
  let message: string | null = null;
  try {
    const data = JSON.parse(body);
    if (data && typeof data.message === 'string' && data.message.trim()) {
      message = data.message.trim();
    } else if (data && typeof data.reason === 'string' && data.reason.trim()) {
      message = data.reason.trim();
    }
  } catch {
    // Not JSON: an HTML error page or a proxy's text.
  }
  if (message === null) {
    if (status === 403 || status === 401) {
      message = 'Not authorized: reload JupyterLab and log in again.';
    } else if (status === 404) {
      message =
        'The nbgate server extension is not available: install nbgate-jupyter (pip install) and restart JupyterLab.';
    } else if (status === 502 || status === 503 || status === 504) {
      message = 'The nbgate gateway is not reachable: restart JupyterLab; see its log for why.';
    } else {
      message = `The nbgate API answered ${status}${body.trim() ? `: ${body.trim().slice(0, 200)}` : ''}`;
    }
  }
  return new NbgateRequestError(status, message);
}

/** The full URL of an API path (for links and the events stream). */
export function apiURL(endPoint: string, settings?: ServerConnection.ISettings): string {
  const serverSettings = settings ?? ServerConnection.makeSettings();
  return URLExt.join(serverSettings.baseUrl, API_NAMESPACE, 'api', endPoint);
}

/** A request: its body is JSON text already serialized (see exactJson.ts for exact numbers). */
export interface IRequestInit extends RequestInit {
  /** Reads the answer's JSON (default `JSON.parse`; `exactJson.parse` keeps every number exact). */
  parse?: (body: string) => unknown;
}

/**
 * Calls `/nbgate/api/<endPoint>` and returns its JSON body (undefined for 204).
 * @throws NbgateRequestError for a network failure (status 0) or a non-2xx answer.
 */
export async function requestAPI<T>(
  endPoint: string,
  { parse = JSON.parse, ...init }: IRequestInit = {},
  settings?: ServerConnection.ISettings
): Promise<T> {
  const serverSettings = settings ?? ServerConnection.makeSettings();
  const url = apiURL(endPoint, serverSettings);
  if (
    init.body !== undefined &&
    !(init.headers as Record<string, string> | undefined)?.['Content-Type']
  ) {
    init = {
      ...init,
      headers: { ...(init.headers as object), 'Content-Type': 'application/json' }
    };
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, serverSettings);
  } catch (error) {
    throw new NbgateRequestError(
      0,
      `Could not reach the Jupyter server: ${(error as Error).message ?? error}`
    );
  }
  const body = await response.text();
  if (!response.ok) {
    throw errorFromResponse(response.status, body);
  }
  if (!body) {
    return undefined as T;
  }
  try {
    return parse(body) as T;
  } catch {
    throw new NbgateRequestError(
      response.status,
      `The nbgate API answered with invalid JSON: ${body.slice(0, 200)}`
    );
  }
}
