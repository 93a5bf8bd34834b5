/**
 * The API client's error mapping, driven by a response table (as jupyterlab-git's mockedRequestAPI):
 * each row is what the proxy answers and what the user is shown.
 */
const makeRequest = jest.fn();

jest.mock('@jupyterlab/services', () => ({
  ServerConnection: {
    makeSettings: () => ({ baseUrl: 'http://localhost:8888/lab-base/' }),
    makeRequest: (...args: unknown[]) => makeRequest(...args)
  }
}));
jest.mock('@jupyterlab/coreutils', () => ({
  URLExt: {
    join: (...parts: string[]) =>
      parts.map((p, i) => (i ? p.replace(/^\/+/, '') : p.replace(/\/+$/, ''))).join('/')
  }
}));

import {
  createExecution,
  createSchedule,
  listExecutions,
  listSchedules,
  notebookParameters
} from '../api';
import { JsonNumber } from '../exactJson';
import { errorFromResponse, NbgateRequestError, requestAPI } from '../handler';

function respond(status: number, body: string): void {
  makeRequest.mockResolvedValueOnce({
    ok: status >= 200 && status < 300,
    status,
    text: async () => body
  });
}

describe('API error mapping', () => {
  const table: [string, number, string, string][] = [
    [
      'server validation error',
      422,
      '{"message": "invalid name \\"Bad\\": use 1 to 128 characters among a-z, 0-9 and _"}',
      'invalid name "Bad": use 1 to 128 characters among a-z, 0-9 and _'
    ],
    [
      'unknown kernel',
      400,
      '{"message": "unknown kernel \\"r\\"; available: [\\"python3\\"]"}',
      'unknown kernel "r"; available: ["python3"]'
    ],
    [
      'conflict',
      409,
      '{"message": "a schedule named \\"daily\\" already exists"}',
      'a schedule named "daily" already exists'
    ],
    [
      'gateway missing (proxy)',
      503,
      '{"message": "nbgate is not installed: the binary \'nbgate\' was not found."}',
      "nbgate is not installed: the binary 'nbgate' was not found."
    ],
    [
      'Jupyter-style error',
      500,
      '{"reason": "Internal Server Error", "message": ""}',
      'Internal Server Error'
    ],
    [
      'no server extension',
      404,
      '<html>Not Found</html>',
      'The nbgate server extension is not available: install nbgate-jupyter (pip install) and restart JupyterLab.'
    ],
    ['logged out', 403, '', 'Not authorized: reload JupyterLab and log in again.'],
    [
      'gateway down, no body',
      502,
      '',
      'The nbgate gateway is not reachable: restart JupyterLab; see its log for why.'
    ],
    ['other text', 500, 'boom', 'The nbgate API answered 500: boom']
  ];

  it.each(table)('%s (%i)', async (_, status, body, message) => {
    // Given
    respond(status, body);
    // When
    const failure = requestAPI('executions').catch((error: NbgateRequestError) => error);
    // Then
    const error = (await failure) as NbgateRequestError;
    expect(error).toBeInstanceOf(NbgateRequestError);
    expect(error.status).toBe(status);
    expect(error.message).toBe(message);
    expect(errorFromResponse(status, body).message).toBe(message);
  });

  it('a network failure is status 0 with the reason', async () => {
    makeRequest.mockRejectedValueOnce(new TypeError('Failed to fetch'));
    await expect(requestAPI('executions')).rejects.toMatchObject({
      status: 0,
      message: 'Could not reach the Jupyter server: Failed to fetch'
    });
  });
});

describe('requests', () => {
  beforeEach(() => makeRequest.mockReset());

  it('go to /nbgate/api/<endpoint> under the base URL, JSON in and out', async () => {
    respond(201, '{"id": "s1", "name": "daily"}');
    const schedule = await createSchedule({
      name: 'daily',
      notebook: 'a.ipynb',
      parameters: { N: 1 },
      cron: '0 9 * * *',
      timezone: 'UTC'
    });
    expect(schedule).toEqual({ id: 's1', name: 'daily' });
    const [url, init] = makeRequest.mock.calls[0];
    expect(url).toBe('http://localhost:8888/lab-base/nbgate/api/schedules');
    expect(init.method).toBe('POST');
    expect(init.headers['Content-Type']).toBe('application/json');
    expect(JSON.parse(init.body)).toMatchObject({ name: 'daily', cron: '0 9 * * *' });
  });

  it('schedules are read page after page until the last', async () => {
    respond(200, '{"items": [{"id": "s1"}, {"id": "s2"}], "next_cursor": "ss2"}');
    respond(200, '{"items": [{"id": "s3"}], "next_cursor": null}');
    expect(await listSchedules()).toEqual([{ id: 's1' }, { id: 's2' }, { id: 's3' }]);
    expect(makeRequest.mock.calls.map(call => call[0])).toEqual([
      'http://localhost:8888/lab-base/nbgate/api/schedules?limit=10000',
      'http://localhost:8888/lab-base/nbgate/api/schedules?limit=10000&cursor=ss2'
    ]);
  });

  it('list filters become the query; pages and bare lists both work', async () => {
    respond(200, '{"items": [{"id": "e1"}], "next_cursor": null}');
    expect(await listExecutions({ status: 'failed', limit: 5 })).toEqual([{ id: 'e1' }]);
    expect(makeRequest.mock.calls[0][0]).toBe(
      'http://localhost:8888/lab-base/nbgate/api/executions?status=failed&limit=5'
    );
    respond(200, '[{"id": "e2"}]');
    expect(await listExecutions()).toEqual([{ id: 'e2' }]);
  });

  it('send parameters as exact JSON: a 20-digit integer reaches the server as the same digits', async () => {
    respond(201, '{"id": "e1"}');
    await createExecution({
      notebook: 'big.ipynb',
      parameters: { N: new JsonNumber('12345678901234567890'), X: new JsonNumber('-0.0') }
    });
    expect(makeRequest.mock.calls[0][1].body).toBe(
      '{"notebook":"big.ipynb","parameters":{"N":12345678901234567890,"X":-0.0}}'
    );
  });

  it('read the defaults of a parameters cell exactly', async () => {
    respond(
      200,
      '{"parameters": [{"name": "N", "type": "int", "default": "1", "default_value": 123456789012345678901}]}'
    );
    const info = await notebookParameters('big.ipynb');
    expect(info.parameters?.[0].default_value).toEqual(new JsonNumber('123456789012345678901'));
    // Only the read: the request itself is JSON as usual.
    expect(makeRequest.mock.calls[0][1].body).toBe('{"path":"big.ipynb"}');
  });

  it('204 resolves to undefined', async () => {
    respond(204, '');
    await expect(requestAPI('executions/e1', { method: 'DELETE' })).resolves.toBeUndefined();
  });
});
