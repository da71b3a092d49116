import { type ClientOptions, createClient, type HdmsClient, type RouterOutputs } from './client';

/*
 * The REST routes tRPC does not carry well: a CSV file streamed as the request body
 * (`POST /patients/import`) and an export document streamed as the answer (`GET /jobs/:id/result`),
 * plus waiting for the background job either one belongs to.
 */

/** A background job as `jobs.get` answers it: status, progress, and its result or error. */
export type Job = RouterOutputs['jobs']['get'];

/** The statuses a job ends in: it changes no more. */
export const FINISHED_JOB_STATUSES: readonly Job['status'][] = ['succeeded', 'failed', 'cancelled'];

/** What the REST helpers need: the server, the token, and optionally a `fetch` and extra headers. */
export type RestOptions = Pick<ClientOptions, 'url' | 'token' | 'fetch' | 'headers'>;

/** A validation problem a REST answer names: the field's path (`name`, `0.age`) and what is wrong. */
export interface RestIssue {
  path: string;
  message: string;
}

/**
 * What a REST helper throws when the server refuses: the HTTP `status` (400, 401, 403, 404, 413,
 * 415, 429, 503), the server's `message`, its validation `issues`, and `retryAfter` (seconds) when
 * the answer says when to try again (429).
 */
export class HdmsRestError extends Error {
  override name = 'HdmsRestError';

  constructor(
    /** The HTTP status of the answer. */
    readonly status: number,
    message: string,
    /** Validation problems, for a 400 that has them; empty otherwise. */
    readonly issues: RestIssue[] = [],
    /** Seconds to wait before trying again (`Retry-After`), or null. */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

/**
 * A CSV file for `uploadPatientsCsv`: a `Blob` (in Node, `await openAsBlob(path)` from `node:fs`
 * reads the file as it is sent, never whole into memory), a byte stream, bytes or text.
 */
export type CsvSource = Blob | ReadableStream<Uint8Array> | Uint8Array | string;

/** Options of a single REST call. */
export interface RestCallOptions {
  /** Aborts the request (the upload or the download) when it fires. */
  signal?: AbortSignal;
}

/** Sends a request to `path` of the server; a non-2xx answer throws `HdmsRestError`. */
async function send(
  options: RestOptions,
  method: 'GET' | 'POST',
  path: string,
  call: RestCallOptions & { body?: CsvSource; contentType?: string } = {},
): Promise<Response> {
  const extra = typeof options.headers === 'function' ? await options.headers() : options.headers;
  const headers = new Headers(extra);
  if (options.token) headers.set('authorization', `Bearer ${options.token}`);
  if (call.contentType) headers.set('content-type', call.contentType);
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal: call.signal };
  if (call.body !== undefined) {
    init.body = call.body as BodyInit;
    // A streamed request body needs `duplex: 'half'` (fetch's rule; Node enforces it).
    if (typeof ReadableStream !== 'undefined' && call.body instanceof ReadableStream) init.duplex = 'half';
  }
  const response = await (options.fetch ?? fetch)(`${options.url.replace(/\/+$/, '')}${path}`, init);
  if (!response.ok) throw await restErrorOf(response);
  return response;
}

/** The `HdmsRestError` of a refusal: the server's `{ error, issues }` answer, or the status line. */
async function restErrorOf(response: Response): Promise<HdmsRestError> {
  let message = `${response.status} ${response.statusText}`.trim();
  let issues: RestIssue[] = [];
  try {
    const body = (await response.json()) as { error?: unknown; issues?: unknown };
    if (typeof body.error === 'string') message = body.error;
    if (Array.isArray(body.issues)) issues = body.issues as RestIssue[];
  } catch {
    // Not JSON (a proxy's error page, say): the status line says it.
  }
  const retryAfter = response.headers.get('retry-after');
  const seconds = retryAfter === null ? Number.NaN : Number(retryAfter);
  return new HdmsRestError(response.status, message, issues, Number.isFinite(seconds) ? seconds : null);
}

/**
 * Uploads a CSV file of patients for import (`POST /patients/import`, admins; `Content-Type:
 * text/csv`, UTF-8, up to the server's IMPORT_MAX_BYTES, 50 MiB by default) and resolves with the
 * `patients.import` job it queued. Follow it with `waitForJob`; once it has succeeded its `result`
 * is `{ rows, imported, rejected, rejectedRows: [{ line, errors }], rejectedRowsTruncated }`. A
 * refusal (not signed in, not an admin, too large, not UTF-8, too many imports queued) throws
 * `HdmsRestError`, and nothing is stored.
 */
export async function uploadPatientsCsv(
  options: RestOptions,
  csv: CsvSource,
  call: RestCallOptions = {},
): Promise<Job> {
  const response = await send(options, 'POST', '/patients/import', {
    ...call,
    body: csv,
    contentType: 'text/csv; charset=utf-8',
  });
  const { job_id: id } = (await response.json()) as { job_id: number };
  return createClient(options).jobs.get.query({ id }, { signal: call.signal });
}

/** How `waitForJob` waits. */
export interface WaitForJobOptions {
  /** Milliseconds between two looks at the job (500 by default). */
  intervalMs?: number;
  /** Called with the job at every look, the last one included (to show its progress). */
  onProgress?: (job: Job) => void;
  /** Stops waiting (rejects with the signal's reason); the job itself goes on. */
  signal?: AbortSignal;
}

/**
 * Waits until a background job has finished (`succeeded`, `failed` or `cancelled`) by asking
 * `jobs.get` every `intervalMs`, and resolves with it. A job that failed does not reject: read its
 * `status` and `error`.
 */
export async function waitForJob(
  client: HdmsClient,
  id: number,
  options: WaitForJobOptions = {},
): Promise<Job> {
  const intervalMs = options.intervalMs ?? 500;
  for (;;) {
    options.signal?.throwIfAborted();
    const job = await client.jobs.get.query({ id }, { signal: options.signal });
    options.onProgress?.(job);
    if (FINISHED_JOB_STATUSES.includes(job.status)) return job;
    await pause(intervalMs, options.signal);
  }
}

/** Resolves after `ms`, or rejects when `signal` fires first. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', stop, { once: true });
  });
}

/** A finished export's document, as the server starts sending it. */
export interface ExportDocument {
  /** The file name the server suggests (`Content-Disposition`), reduced to a plain name. */
  filename: string;
  /** Its size in bytes (`Content-Length`). */
  bytes: number;
  /** Its bytes (JSON), to be read once. */
  body: ReadableStream<Uint8Array>;
}

/**
 * Opens the document of a succeeded `patient.export` job (`GET /jobs/:id/result`): for the
 * patient and their doctors only; anyone else, an unfinished job and an expired export get
 * `HdmsRestError` 404.
 */
export async function openExport(
  options: RestOptions,
  jobId: number,
  call: RestCallOptions = {},
): Promise<ExportDocument> {
  const response = await send(options, 'GET', `/jobs/${jobId}/result`, call);
  if (!response.body) throw new HdmsRestError(response.status, 'The export answer has no body');
  const disposition = response.headers.get('content-disposition') ?? '';
  const suggested = /filename="([^"]*)"/i.exec(disposition)?.[1] ?? '';
  return {
    filename: plainFilename(suggested) || `hdms-export-${jobId}.json`,
    bytes: Number(response.headers.get('content-length') ?? Number.NaN),
    body: response.body,
  };
}

/** `name` without directories, control characters or leading dots: safe to create in a folder. */
function plainFilename(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
  return base.replace(/[\u0000-\u001f\u007f]/g, '').replace(/^\.+/, '');
}

/**
 * Downloads the document of a succeeded `patient.export` job into `destination`, streaming (never
 * whole in memory), and resolves with its suggested file name and the bytes written. In Node, a
 * file: `Writable.toWeb(createWriteStream(path))` (`node:stream`, `node:fs`). A download cut short
 * rejects (and aborts `destination`); refusals throw `HdmsRestError` as `openExport` does.
 */
export async function downloadExport(
  options: RestOptions,
  jobId: number,
  destination: WritableStream<Uint8Array>,
  call: RestCallOptions = {},
): Promise<{ filename: string; bytes: number }> {
  const document = await openExport(options, jobId, call);
  let written = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      written += chunk.byteLength;
      controller.enqueue(chunk);
    },
    flush(controller) {
      if (Number.isFinite(document.bytes) && written !== document.bytes) {
        controller.error(new Error(`The download ended after ${written} of ${document.bytes} bytes`));
      }
    },
  });
  await document.body.pipeThrough(counter).pipeTo(destination, { signal: call.signal });
  return { filename: document.filename, bytes: written };
}
