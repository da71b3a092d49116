import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CsvError, parse } from 'csv-parse';
import { type PatientCreateItem, patientCreateInput } from '../domain/patients/schemas';

/**
 * Reading a patients CSV, streaming: bytes are decoded as UTF-8 chunk by chunk (a file that is not
 * UTF-8 is refused, naming the line), parsed by csv-parse record by record, and each row is
 * checked with `patients.create`'s own schema. Nothing here holds more than one chunk and one
 * record at a time.
 *
 * The format: a header row naming the columns, in any order; `name`, `age` and `gender` are
 * required, `doctor_id`, `room_number` and `bed_number` optional (the column may be left out, or a
 * cell left empty). Any other column, or one named twice, refuses the whole file, so that nothing
 * (clinical content, say) is silently dropped. Fields are separated by commas and quoted with `"`
 * as in RFC 4180; lines end with CRLF, LF or CR; empty lines are skipped; a UTF-8 byte order mark
 * is allowed. Line numbers count physical lines from 1 (the header), as a text editor shows them.
 */

/** The columns of an import file, as its header names them. */
export const IMPORT_COLUMNS = ['name', 'age', 'gender', 'doctor_id', 'room_number', 'bed_number'] as const;
/** One column of an import file. */
export type ImportColumn = (typeof IMPORT_COLUMNS)[number];
/** The columns a header must name. */
const REQUIRED_COLUMNS: readonly ImportColumn[] = ['name', 'age', 'gender'];
/** Each column's field in `patients.create`'s input. */
const FIELD_OF: Record<ImportColumn, keyof PatientCreateItem> = {
  name: 'name',
  age: 'age',
  gender: 'gender',
  doctor_id: 'doctorId',
  room_number: 'roomNumber',
  bed_number: 'bedNumber',
};
const COLUMN_OF = Object.fromEntries(Object.entries(FIELD_OF).map(([column, field]) => [field, column]));

/** The longest record (one row, all its fields) accepted, in characters. */
const MAX_RECORD_CHARS = 64 * 1024;

/** A problem with the file as a whole (encoding, CSV syntax, header): nothing of it is imported. */
export class CsvFileError extends Error {
  override name = 'CsvFileError';
}

/** One CSV record and the line it starts on. */
export interface CsvRecord {
  line: number;
  fields: string[];
}

/** Line breaks in `text` (CRLF, LF or a lone CR each count once); `afterCR`: the text before ended with CR. */
function countLines(text: string, afterCR: boolean): number {
  let lines = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 10 /* \n */) {
      if (!(i === 0 ? afterCR : text.charCodeAt(i - 1) === 13)) lines++;
    } else if (ch === 13 /* \r */) lines++;
  }
  return lines;
}

/**
 * Where the first byte that cannot be UTF-8 is in `bytes` (-1 if none). Leading continuation bytes
 * are taken as the end of a character begun in the previous chunk, and an incomplete character at
 * the end as one the next chunk completes.
 */
function invalidUtf8At(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length && i < 3 && (bytes[i]! & 0xc0) === 0x80) i++;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    let length: number;
    if (lead < 0x80) length = 1;
    else if (lead >= 0xc2 && lead <= 0xdf) length = 2;
    else if (lead >= 0xe0 && lead <= 0xef) length = 3;
    else if (lead >= 0xf0 && lead <= 0xf4) length = 4;
    else return i;
    for (let k = 1; k < length; k++) {
      if (i + k >= bytes.length) return -1;
      const next = bytes[i + k]!;
      let low = 0x80;
      let high = 0xbf;
      if (k === 1) {
        if (lead === 0xe0) low = 0xa0;
        else if (lead === 0xed) high = 0x9f;
        else if (lead === 0xf0) low = 0x90;
        else if (lead === 0xf4) high = 0x8f;
      }
      if (next < low || next > high) return i;
    }
    i += length;
  }
  return -1;
}

/**
 * Decodes UTF-8 chunk by chunk with a fatal decoder (a byte order mark is dropped). Bytes that are
 * not UTF-8 throw a `CsvFileError` naming their line.
 */
export async function* decodeUtf8(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let lines = 0;
  let afterCR = false;
  const notUtf8 = (line: number) =>
    new CsvFileError(
      `The file is not UTF-8 text (line ${line} holds bytes that are not UTF-8): save it as "CSV UTF-8" and upload it again`,
    );
  for await (const chunk of chunks) {
    let text: string;
    try {
      text = decoder.decode(chunk, { stream: true });
    } catch {
      const at = invalidUtf8At(chunk);
      const before = new TextDecoder('utf-8').decode(chunk.subarray(0, at < 0 ? chunk.length : at));
      throw notUtf8(lines + countLines(before, afterCR) + 1);
    }
    lines += countLines(text, afterCR);
    if (text.length) afterCR = text.charCodeAt(text.length - 1) === 13;
    if (text.length) yield text;
  }
  try {
    const tail = decoder.decode();
    if (tail.length) yield tail;
  } catch {
    throw notUtf8(lines + 1);
  }
}

/** How many of a record's line breaks csv-parse counts (each CR and each LF inside quotes), and how many CRLF pairs. */
function breaksIn(fields: string[]): { chars: number; crlf: number } {
  let chars = 0;
  let crlf = 0;
  for (const field of fields) {
    for (let i = 0; i < field.length; i++) {
      const ch = field.charCodeAt(i);
      if (ch === 13) {
        chars++;
        if (field.charCodeAt(i + 1) === 10) crlf++;
      } else if (ch === 10) chars++;
    }
  }
  return { chars, crlf };
}

/**
 * The records of a CSV file, the header first, each with the line it starts on, parsed as the
 * chunks arrive (backpressure holds the reading back while a consumer is busy). A file that is not
 * UTF-8 or not valid CSV throws a `CsvFileError` naming the line.
 */
export async function* csvRecords(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<CsvRecord> {
  const parser = parse({
    bom: true,
    info: true,
    relax_column_count: true,
    skip_empty_lines: true,
    record_delimiter: ['\r\n', '\n', '\r'],
    max_record_size: MAX_RECORD_CHARS,
  });
  const feeding = pipeline(Readable.from(decodeUtf8(chunks)), parser);
  feeding.catch(() => undefined);
  // csv-parse counts each CR and LF inside quotes as a line, and ends the count on the record's
  // last line; a CRLF inside quotes is one line.
  let crlfSoFar = 0;
  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: string[];
      info: { lines: number };
    }>) {
      const { chars, crlf } = breaksIn(record);
      yield { line: info.lines - chars - crlfSoFar, fields: record };
      crlfSoFar += crlf;
    }
    await feeding;
  } catch (error) {
    if (error instanceof CsvError) {
      // csv-parse quotes the offending value: kept out of job errors and logs, the line is enough.
      const message = error.message.replace(/,? value is .*$/s, '').replace(/\.?$/, '');
      throw new CsvFileError(`The file is not valid CSV: ${message}`);
    }
    throw error;
  } finally {
    parser.destroy();
  }
}

/**
 * The columns a header row names, in order. Refuses (with a `CsvFileError` naming them) unknown,
 * blank or repeated columns and missing required ones. Names are matched ignoring case and the
 * spaces around them.
 */
export function readHeader(fields: string[]): ImportColumn[] {
  const names = fields.map((field) => field.trim().toLowerCase());
  const expected = `the header row must name the columns ${IMPORT_COLUMNS.join(',')} (name, age and gender required; any order)`;
  const unknown = names.filter((name) => !(IMPORT_COLUMNS as readonly string[]).includes(name));
  if (unknown.length) {
    const shown = unknown.map((name) => (name === '' ? '(a blank column name)' : `"${name.slice(0, 40)}"`));
    throw new CsvFileError(
      `Unknown column${unknown.length > 1 ? 's' : ''} ${shown.slice(0, 10).join(', ')}: ${expected}`,
    );
  }
  const repeated = names.filter((name, i) => names.indexOf(name) !== i);
  if (repeated.length) {
    throw new CsvFileError(`Column ${[...new Set(repeated)].join(', ')} named more than once: ${expected}`);
  }
  const missing = REQUIRED_COLUMNS.filter((column) => !names.includes(column));
  if (missing.length) {
    throw new CsvFileError(
      `Missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: ${expected}`,
    );
  }
  return names as ImportColumn[];
}

/** A row checked: the patient to admit, or why the row is rejected. */
export type RowCheck = { ok: true; patient: PatientCreateItem } | { ok: false; errors: string[] };

const WHOLE_NUMBER = /^[+-]?\d{1,12}$/;

/**
 * Checks one data row against `patients.create`'s schema, column by column; reasons name the
 * column (`age: Number must be less than or equal to 150`). An empty cell leaves an optional field
 * out; a whole-number column must hold a whole number.
 */
export function checkRow(columns: ImportColumn[], fields: string[]): RowCheck {
  if (fields.length !== columns.length) {
    return { ok: false, errors: [`has ${fields.length} fields; the header has ${columns.length}`] };
  }
  const input: Record<string, unknown> = {};
  const errors: string[] = [];
  const reported = new Set<string>();
  columns.forEach((column, i) => {
    const text = fields[i]!.trim();
    if (text === '') {
      if (REQUIRED_COLUMNS.includes(column)) {
        errors.push(`${column}: is required`);
        reported.add(column);
      }
      return;
    }
    if (column === 'age' || column === 'doctor_id') {
      if (!WHOLE_NUMBER.test(text)) {
        errors.push(`${column}: must be a whole number`);
        reported.add(column);
        return;
      }
      input[FIELD_OF[column]] = Number(text);
      return;
    }
    input[FIELD_OF[column]] = fields[i];
  });
  for (const column of REQUIRED_COLUMNS) {
    if (!columns.includes(column)) reported.add(column);
  }
  const parsed = patientCreateInput.safeParse(input);
  if (parsed.success && errors.length === 0) return { ok: true, patient: parsed.data };
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const column = COLUMN_OF[String(issue.path[0])] ?? String(issue.path[0] ?? 'row');
      if (reported.has(column)) continue;
      reported.add(column);
      errors.push(`${column}: ${issue.message}`);
    }
  }
  return { ok: false, errors };
}
