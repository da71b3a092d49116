import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UPLOAD_CHECK_BYTES } from '../server/src/domain/jobs/imports';
import { callerFor, outcome } from './helpers/callers';
import { adminToken, type TestServer, startTestServer } from './helpers/server';

/*
 * Issue 19, point 8: an upload that is not UTF-8 in its first 64 KiB (a UTF-16 byte order mark, NUL
 * bytes, invalid sequences) is refused with 400 at the door, with nothing stored: no job, no job
 * file, no chunk. (Bad bytes further on fail the job with nothing imported: tests/jobs-import.test.ts.)
 */

let t: TestServer;
let admin: string;

beforeAll(async () => {
  t = await startTestServer();
  admin = await adminToken(t);
});

afterAll(async () => {
  await t?.close();
});

function upload(body: Buffer) {
  return fetch(`${t.url}/patients/import`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'text/csv' },
    body: new Uint8Array(body),
  });
}

/** What an upload may leave behind: jobs, files, chunks. */
async function stored() {
  const { Job, JobFile, JobFileChunk } = t.db.models;
  return { jobs: await Job.count(), files: await JobFile.count(), chunks: await JobFileChunk.count() };
}

const CSV = 'name,age,gender\nAda Lovelace,36,female\n';

/** Valid CSV rows of about `bytes` bytes. */
function rows(bytes: number): string {
  let text = '';
  for (let i = 0; text.length < bytes; i++) text += `Padding Row ${i},40,male\n`;
  return text;
}

describe('an upload that is not UTF-8 at its start', () => {
  it.each([
    [
      'UTF-16LE with its byte order mark',
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(CSV, 'utf16le')]),
      /UTF-16/,
    ],
    [
      'UTF-16BE with its byte order mark',
      Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(CSV, 'utf16le').swap16()]),
      /UTF-16/,
    ],
    ['UTF-16LE without a byte order mark (NUL bytes)', Buffer.from(CSV, 'utf16le'), /NUL byte at byte 2/],
    ['a NUL byte in UTF-8 text', Buffer.from(`${CSV}Bad\u0000Name,1,f\n`), /NUL byte/],
    [
      'Latin-1 text (an invalid sequence)',
      Buffer.concat([Buffer.from(`${CSV}Jos`), Buffer.from([0xe9, 0x2c]), Buffer.from('2,m\n')]),
      /not UTF-8/,
    ],
    [
      'an invalid sequence near the end of the first 64 KiB',
      Buffer.concat([
        Buffer.from(CSV + rows(UPLOAD_CHECK_BYTES - 200)),
        Buffer.from([0xc3, 0x28]),
        Buffer.from(',1,f\n'),
      ]),
      /not UTF-8/,
    ],
    ['a lone continuation byte', Buffer.concat([Buffer.from(CSV), Buffer.from([0x80])]), /not UTF-8/],
  ])('%s: 400 at upload, no job, nothing stored', async (_, body, message) => {
    const before = await stored();
    const res = await upload(body);
    expect(res.status).toBe(400);
    const answer = (await res.json()) as { error: string };
    expect(answer.error).toMatch(message);
    expect(answer.error).toMatch(/save it as "CSV UTF-8"/);
    expect(await stored()).toEqual(before);
  });

  it('through patients.import (tRPC) as well: text with a NUL character is BAD_REQUEST, nothing stored', async () => {
    const before = await stored();
    const refused = await outcome(callerFor(t, admin).patients.import({ csv: `${CSV}A\u0000B,1,f\n` }));
    expect(refused).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/NUL byte/) });
    expect(await stored()).toEqual(before);
  });

  it('a multi-byte character cut by the 64 KiB boundary is UTF-8 still: accepted', async () => {
    const head = `${CSV}${rows(UPLOAD_CHECK_BYTES - 100)}J`;
    const pad = 'x'.repeat(UPLOAD_CHECK_BYTES - 1 - Buffer.byteLength(head));
    const body = Buffer.from(`${head}${pad}é,2,m\n`);
    expect(body.indexOf(Buffer.from('é'))).toBe(UPLOAD_CHECK_BYTES - 1);
    const res = await upload(body);
    expect(res.status).toBe(202);
  });
});
