import type { Bundle, BundleEntry, BundleLink, OperationOutcome } from '@medplum/fhirtypes';
import type { Context as HonoContext } from 'hono';
import type { AppEnv } from '../context';
import { canReadClinical, tierRefusal } from '../domain/access/policy';
import { getCheckRecord, listCheckRecords } from '../domain/checkHistory/index';
import { countDoctors, getDoctor, listDoctors } from '../domain/doctors/index';
import { isNotFound, notFound } from '../domain/errors';
import { getNoteRecord, listNoteRecords } from '../domain/notes/index';
import { countPatients, getPatient, listPatients } from '../domain/patients/queries';
import type { PatientView } from '../domain/patients/views';
import { patientVersions } from '../domain/patients/versions';
import { auditedRefusal, type FhirReader, fhirBaseOf, fhirReader, TYPE_ACCESS } from './http';
import {
  derivedPatientId,
  type FhirBase,
  type HdmsResource,
  type ResourceType,
  resourceUrl,
  toCondition,
  toDocumentReference,
  toEncounter,
  toMedicationStatement,
  toPatient,
  toPractitioner,
} from './mapping';
import type { Search } from './params';

/**
 * The FHIR interactions over the domain: read, search and `$everything`. Every read goes through
 * the domain's queries with the caller's scope (and is audited there); this module only picks
 * which query answers which interaction and maps the views.
 */

/** The most Encounters, and the most DocumentReferences, one `$everything` Bundle holds (the latest ones). */
export const EVERYTHING_MAX_PER_TYPE = 500;

/** An id of ours in a URL: anything else names no resource. */
function numericId(type: string, raw: string): number {
  if (!/^[1-9]\d{0,9}$/.test(raw) || Number(raw) > 2_147_483_647) throw notFound(type);
  return Number(raw);
}

/** The patient a read of `type`/`rawId` is about, for the audit of a refused read (null: not known before reading). */
export function patientNamed(type: ResourceType, rawId: string): number | null {
  if (type === 'Patient') return /^[1-9]\d{0,9}$/.test(rawId) ? Number(rawId) : null;
  if (type === 'Condition' || type === 'MedicationStatement') return derivedPatientId(type, rawId);
  return null;
}

/** A patient view as FHIR Patient, Condition and MedicationStatement, with its version. */
async function patientResources(ctx: FhirReader, base: FhirBase, views: PatientView[]) {
  const versions = await patientVersions(ctx.db, views);
  return views.map((view) => {
    const version = versions.get(view.id)!;
    return {
      patient: toPatient(base, view, version),
      condition: toCondition(view, version),
      medication: toMedicationStatement(view, version),
    };
  });
}

/** `GET /fhir/R4/<type>/<id>`: the resource as the caller may see it; NOT_FOUND when absent or out of scope. */
export async function readResource(
  c: HonoContext<AppEnv>,
  type: ResourceType,
  rawId: string,
): Promise<HdmsResource> {
  const procedure = `fhir.${type}.read`;
  return auditedRefusal(c, procedure, patientNamed(type, rawId), async () => {
    const ctx = await fhirReader(c, type, procedure);
    const base = fhirBaseOf(c);
    switch (type) {
      case 'Patient': {
        const [mapped] = await patientResources(ctx, base, [
          await getPatient(ctx, numericId('Patient', rawId)),
        ]);
        return mapped!.patient;
      }
      case 'Practitioner':
        return toPractitioner(await getDoctor(ctx, numericId('Practitioner', rawId)));
      case 'Encounter':
        return toEncounter(await getCheckRecord(ctx, numericId('Encounter', rawId)));
      case 'DocumentReference':
        return toDocumentReference(await getNoteRecord(ctx, numericId('DocumentReference', rawId)));
      case 'Condition':
      case 'MedicationStatement': {
        const patientId = derivedPatientId(type, rawId);
        if (patientId === null) throw notFound(type);
        const view = await getPatient(ctx, patientId).catch((error: unknown) => {
          throw isNotFound(error) ? notFound(type) : error;
        });
        const [mapped] = await patientResources(ctx, base, [view]);
        const resource = type === 'Condition' ? mapped!.condition : mapped!.medication;
        if (!resource) throw notFound(type);
        return resource;
      }
    }
  });
}

/** A Bundle entry of a search match. */
const match = (base: FhirBase, resource: HdmsResource): BundleEntry => ({
  fullUrl: resourceUrl(base, resource.resourceType as ResourceType, resource.id!),
  resource,
  search: { mode: 'match' },
});

/** A search page before it becomes a Bundle: its resources, the next cursor, and the total on the first page. */
interface Found {
  resources: HdmsResource[];
  nextCursor: number | null;
  total?: number;
}

/** The links of a search Bundle: `self` with the parameters used, `next` with the cursor of the next page. */
function searchLinks(
  base: FhirBase,
  type: ResourceType,
  search: Search,
  nextCursor: number | null,
): BundleLink[] {
  const query = (extra: [string, string][]) => {
    const params = new URLSearchParams([...search.used.filter(([k]) => k !== '_cursor'), ...extra]);
    const text = params.toString();
    return `${base.url}/${type}${text ? `?${text}` : ''}`;
  };
  const links: BundleLink[] = [
    { relation: 'self', url: query(search.cursor === null ? [] : [['_cursor', String(search.cursor)]]) },
  ];
  if (nextCursor !== null) links.push({ relation: 'next', url: query([['_cursor', String(nextCursor)]]) });
  return links;
}

/** Runs one search of `type` through the domain's list queries. */
async function find(ctx: FhirReader, base: FhirBase, type: ResourceType, search: Search): Promise<Found> {
  const first = search.cursor === null;
  const page = { limit: search.count, cursor: search.cursor };
  switch (type) {
    case 'Patient': {
      const filter = { search: search.name };
      const list = search.count > 0 ? await listPatients(ctx, { ...page, ...filter }) : null;
      const mapped = list ? await patientResources(ctx, base, list.items) : [];
      return {
        resources: mapped.map((m) => m.patient),
        nextCursor: list?.nextCursor ?? null,
        total: first ? await countPatients(ctx, filter) : undefined,
      };
    }
    case 'Practitioner': {
      const list = search.count > 0 ? await listDoctors(ctx, page) : null;
      return {
        resources: (list?.items ?? []).map(toPractitioner),
        nextCursor: list?.nextCursor ?? null,
        total: first ? await countDoctors(ctx) : undefined,
      };
    }
    case 'Encounter': {
      const list = await listCheckRecords(
        ctx,
        { ...page, patientId: search.patientId!, from: search.from, to: search.to },
        { total: first },
      );
      return { resources: list.items.map(toEncounter), nextCursor: list.nextCursor, total: list.total };
    }
    case 'DocumentReference': {
      const list = await listNoteRecords(ctx, { ...page, patientId: search.patientId! }, { total: first });
      return {
        resources: list.items.map(toDocumentReference),
        nextCursor: list.nextCursor,
        total: list.total,
      };
    }
    case 'Condition':
    case 'MedicationStatement': {
      const [mapped] = await patientResources(ctx, base, [await getPatient(ctx, search.patientId!)]);
      const resource = type === 'Condition' ? mapped!.condition : mapped!.medication;
      const all = resource && !first ? [] : resource ? [resource] : [];
      return {
        resources: all.slice(0, search.count),
        nextCursor: null,
        total: first ? all.length : undefined,
      };
    }
  }
}

/**
 * `GET /fhir/R4/<type>?...`: a `searchset` Bundle of one page, `total` on the first page, a
 * `next` link (absolute, from PUBLIC_URL) while more remain.
 */
export async function searchResources(
  c: HonoContext<AppEnv>,
  type: ResourceType,
  search: Search,
): Promise<Bundle> {
  const procedure = `fhir.${type}.search`;
  return auditedRefusal(c, procedure, search.patientId ?? null, async () => {
    const ctx = await fhirReader(c, type, procedure);
    const base = fhirBaseOf(c);
    const found = await find(ctx, base, type, search);
    const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset' };
    if (found.total !== undefined) bundle.total = found.total;
    bundle.link = searchLinks(base, type, search, found.nextCursor);
    bundle.entry = found.resources.map((r) => match(base, r));
    return bundle;
  });
}

/** An `outcome` entry saying what a Bundle left out. */
const leftOut = (diagnostics: string): BundleEntry => ({
  resource: {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'information', code: 'too-costly', diagnostics }],
  } satisfies OperationOutcome,
  search: { mode: 'outcome' },
});

/**
 * `GET /fhir/R4/Patient/<id>/$everything`: the patient, their assigned doctor and the doctors of
 * the check-ups included, and what the caller may read of their record: the Condition and the
 * MedicationStatement, the latest `EVERYTHING_MAX_PER_TYPE` Encounters and DocumentReferences
 * (an `outcome` entry says how many more there are and which search pages them). `total` counts
 * every resource of the record, included or not. Admins and services get what their role and
 * scopes may read (no clinical types).
 */
export async function everything(c: HonoContext<AppEnv>, rawId: string): Promise<Bundle> {
  const procedure = 'fhir.Patient.$everything';
  return auditedRefusal(c, procedure, patientNamed('Patient', rawId), async () => {
    const ctx = await fhirReader(c, 'Patient', procedure);
    const base = fhirBaseOf(c);
    const view = await getPatient(ctx, numericId('Patient', rawId));
    const [mapped] = await patientResources(ctx, base, [view]);
    const may = (type: ResourceType) => {
      const rule = TYPE_ACCESS[type];
      return tierRefusal(ctx.actor, rule, rule.scope) === null;
    };
    const resources: HdmsResource[] = [mapped!.patient];
    const notes: string[] = [];
    let total = 1;
    const clinical = canReadClinical(ctx.actor);
    for (const resource of clinical ? [mapped!.condition, mapped!.medication] : []) {
      if (resource) {
        resources.push(resource);
        total++;
      }
    }
    const doctorIds = new Set<number>(view.doctorId === null ? [] : [view.doctorId]);
    if (may('Encounter')) {
      const checks = await listCheckRecords(
        ctx,
        { patientId: view.id, limit: EVERYTHING_MAX_PER_TYPE },
        { total: true },
      );
      for (const check of checks.items) if (check.doctorId !== null) doctorIds.add(check.doctorId);
      resources.push(...checks.items.map(toEncounter));
      total += checks.total!;
      if (checks.total! > checks.items.length) {
        notes.push(
          `Only the latest ${checks.items.length} of ${checks.total} Encounters are included; page them all with Encounter?patient=${view.id}`,
        );
      }
    }
    if (clinical) {
      const list = await listNoteRecords(
        ctx,
        { patientId: view.id, limit: EVERYTHING_MAX_PER_TYPE },
        { total: true },
      );
      resources.push(...list.items.map(toDocumentReference));
      total += list.total!;
      if (list.total! > list.items.length) {
        notes.push(
          `Only the latest ${list.items.length} of ${list.total} DocumentReferences are included; page them all with DocumentReference?patient=${view.id}`,
        );
      }
    }
    if (may('Practitioner')) {
      for (const doctorId of doctorIds) {
        const doctor = await getDoctor(ctx, doctorId).catch((error: unknown) => {
          if (isNotFound(error)) return null;
          throw error;
        });
        if (doctor) {
          resources.splice(1, 0, toPractitioner(doctor));
          total++;
        }
      }
    }
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      total,
      link: [{ relation: 'self', url: `${base.url}/Patient/${view.id}/$everything` }],
      entry: [...resources.map((r) => match(base, r)), ...notes.map(leftOut)],
    };
  });
}
