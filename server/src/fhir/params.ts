import { badInput, badRequest } from '../domain/errors';
import type { ResourceType } from './mapping';

/**
 * The search parameters HDMS supports, and their parsing. `SEARCH_PARAMS` is the one list: the
 * parser takes what it names and the CapabilityStatement states it, so the two cannot differ.
 */

/** One supported search parameter of a type, as the CapabilityStatement states it. */
export interface SearchParamDef {
  name: string;
  type: 'string' | 'reference' | 'date' | 'number' | 'token';
  documentation: string;
}

/** `_count`: the page size, default and bound. */
export const DEFAULT_COUNT = 50;
export const MAX_COUNT = 1000;

/** Parameters every search takes. */
const COMMON: SearchParamDef[] = [
  {
    name: '_count',
    type: 'number',
    documentation: `Page size: 0 to ${MAX_COUNT} (default ${DEFAULT_COUNT}); 0 answers the total only.`,
  },
];

const PATIENT_PARAM: SearchParamDef = {
  name: 'patient',
  type: 'reference',
  documentation:
    "The patient (`7` or `Patient/7`). Required: a search covers one patient's record (all patients: Bulk Data export).",
};

/** The search parameters of each type, besides `_count` (and `_cursor`, which only `next` links carry). */
export const SEARCH_PARAMS: Record<ResourceType, SearchParamDef[]> = {
  Patient: [
    {
      name: 'name',
      type: 'string',
      documentation:
        'Patients whose name contains the text, ignoring case (`name` and `name:contains` alike).',
    },
  ],
  Practitioner: [],
  Encounter: [
    PATIENT_PARAM,
    {
      name: 'date',
      type: 'date',
      documentation:
        'The check time (period.start), with the prefixes eq (default), ge, gt, le, lt; repeat it for a range (date=ge2024-01-01&date=lt2024-02-01). A date without a time zone is UTC.',
    },
  ],
  Condition: [PATIENT_PARAM],
  MedicationStatement: [PATIENT_PARAM],
  DocumentReference: [PATIENT_PARAM],
};

/** Every parameter a search of `type` takes. */
export const searchParamsOf = (type: ResourceType): SearchParamDef[] => [...SEARCH_PARAMS[type], ...COMMON];

/**
 * Parameters that are about the request rather than the search: `_format` (checked by the app),
 * `_cursor` (the keyset position in `next` links).
 */
const CONTROL = new Set(['_format', '_cursor']);

/** A search, parsed. */
export interface Search {
  count: number;
  /** The id after which the page starts (from a `next` link), or null for the first page. */
  cursor: number | null;
  /** Patient: the text the name contains. */
  name?: string;
  /** The clinical types: the patient searched. */
  patientId?: number;
  /** Encounter: check time at or after `from`, before `to`. */
  from?: Date;
  to?: Date;
  /** The parameters used, as the `self` link repeats them (ignored ones left out). */
  used: [string, string][];
}

/** An id of ours in a parameter: a positive whole number (a 32-bit column). */
function parseId(name: string, raw: string): number {
  if (!/^[1-9]\d{0,9}$/.test(raw) || Number(raw) > 2_147_483_647) {
    throw badInput([name], `${name} must be a positive whole number, got "${raw.slice(0, 40)}"`);
  }
  return Number(raw);
}

const DATE_VALUE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/;

/** The instants a FHIR date value covers: [start, end). A date without a zone is UTC. */
export function dateRange(raw: string): { start: Date; end: Date } {
  const match = DATE_VALUE.exec(raw);
  const invalid = () =>
    badInput(
      ['date'],
      `date must be a FHIR date or dateTime (2024, 2024-05, 2024-05-01, 2024-05-01T10:00:00Z), got "${raw.slice(0, 40)}"`,
    );
  if (!match) throw invalid();
  const [, y, mo, d, h, mi, s, frac, zone] = match;
  const year = Number(y);
  const month = mo ? Number(mo) - 1 : 0;
  const day = d ? Number(d) : 1;
  if (month > 11 || day < 1 || day > 31) throw invalid();
  if (h === undefined) {
    const start = new Date(Date.UTC(year, month, day));
    if (start.getUTCMonth() !== month || start.getUTCDate() !== day) throw invalid();
    const end = new Date(start);
    if (d) end.setUTCDate(end.getUTCDate() + 1);
    else if (mo) end.setUTCMonth(end.getUTCMonth() + 1);
    else end.setUTCFullYear(end.getUTCFullYear() + 1);
    return { start, end };
  }
  if (Number(h) > 23 || Number(mi) > 59 || (s !== undefined && Number(s) > 59)) throw invalid();
  const start = new Date(
    `${y}-${mo}-${d}T${h}:${mi}:${s ?? '00'}${frac ? `.${frac.slice(0, 3)}` : ''}${zone}`,
  );
  if (Number.isNaN(start.getTime())) throw invalid();
  const step = frac ? 1 : s !== undefined ? 1000 : 60_000;
  return { start, end: new Date(start.getTime() + step) };
}

/** Applies one `date` value (with its prefix) to the [from, to) range of the search. */
function applyDate(search: Search, raw: string): void {
  const prefixed = /^(eq|ge|gt|le|lt|ne|sa|eb|ap)?(.*)$/.exec(raw)!;
  const prefix = prefixed[1] ?? 'eq';
  if (!['eq', 'ge', 'gt', 'le', 'lt'].includes(prefix)) {
    throw badInput(['date'], `date prefix ${prefix} is not supported; use eq, ge, gt, le or lt`);
  }
  const { start, end } = dateRange(prefixed[2]!);
  const raise = (from: Date) => {
    if (!search.from || from > search.from) search.from = from;
  };
  const lower = (to: Date) => {
    if (!search.to || to < search.to) search.to = to;
  };
  if (prefix === 'eq') {
    raise(start);
    lower(end);
  } else if (prefix === 'ge') raise(start);
  else if (prefix === 'gt') raise(end);
  else if (prefix === 'le') lower(end);
  else lower(start);
}

/**
 * Parses the query of a search of `type`. A parameter HDMS does not support, or a modifier it
 * does not, is BAD_REQUEST naming it, unless the client asked for lenient handling
 * (`Prefer: handling=lenient`): then it is ignored and left out of the `self` link. A bad value
 * of a supported parameter is BAD_REQUEST either way.
 */
export function parseSearch(type: ResourceType, query: URLSearchParams, lenient: boolean): Search {
  const search: Search = { count: DEFAULT_COUNT, cursor: null, used: [] };
  const known = new Set(searchParamsOf(type).map((p) => p.name));
  const seen = new Set<string>();
  for (const [key, value] of query) {
    const [name, modifier] = key.split(':', 2) as [string, string | undefined];
    const modifierOk =
      modifier === undefined || (type === 'Patient' && name === 'name' && modifier === 'contains');
    if (CONTROL.has(key)) {
      if (key === '_cursor') {
        search.cursor = parseId('_cursor', value);
        search.used.push([key, value]);
      }
      continue;
    }
    if (!known.has(name) || !modifierOk) {
      if (lenient) continue;
      throw badRequest(
        known.has(name)
          ? `The modifier :${modifier} of ${name} is not supported on ${type}`
          : `Search parameter ${key} is not supported on ${type}; supported: ${[...known].join(', ')} (see /fhir/R4/metadata), or send Prefer: handling=lenient to ignore it`,
      );
    }
    if (seen.has(name) && name !== 'date') throw badInput([name], `${name} may be given once`);
    seen.add(name);
    search.used.push([key, value]);
    if (name === '_count') {
      if (!/^\d{1,7}$/.test(value) || Number(value) > MAX_COUNT) {
        throw badInput(
          ['_count'],
          `_count must be a whole number from 0 to ${MAX_COUNT}, got "${value.slice(0, 40)}"`,
        );
      }
      search.count = Number(value);
    } else if (name === 'name') {
      const text = value.trim();
      if (text === '' || text.length > 200) throw badInput(['name'], 'name must be 1 to 200 characters');
      search.name = text;
    } else if (name === 'patient') {
      search.patientId = parseId('patient', value.replace(/^Patient\//, ''));
    } else if (name === 'date') {
      applyDate(search, value);
    }
  }
  if (known.has('patient') && search.patientId === undefined) {
    throw badInput(
      ['patient'],
      `A ${type} search needs patient=<id>: HDMS searches one patient's record at a time (all of them: Patient/$export)`,
    );
  }
  return search;
}
