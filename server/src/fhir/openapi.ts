import type { ResponseConfig, RouteConfig } from '@asteasolutions/zod-to-openapi';
import { FHIR_PATH } from './http';
import { RESOURCE_TYPES } from './mapping';
import { DEFAULT_COUNT, MAX_COUNT } from './params';
import { EVERYTHING_MAX_PER_TYPE } from './resources';

/**
 * The FHIR R4 routes (read, search, `$everything`, `metadata`, and Bulk Data's, which `bulk/`
 * mounts) as `/openapi.json` and `/docs` list them. Their bodies are FHIR resources, defined by the FHIR specification rather than here: each
 * answer names its resource type and links to it.
 */

const fhirJson = (description: string, resource: string): ResponseConfig => ({
  description: `${description} (FHIR R4 ${resource}: https://hl7.org/fhir/R4/${resource.toLowerCase()}.html)`,
  content: { 'application/fhir+json': { schema: { type: 'object', description: `A FHIR R4 ${resource}` } } },
});

const outcomeAnswer = (description: string): ResponseConfig => fhirJson(description, 'OperationOutcome');

/** The errors every signed-in FHIR interaction may answer, as OperationOutcome. */
const ERRORS: Record<number, ResponseConfig> = {
  400: outcomeAnswer(
    'An unsupported or bad parameter (ignored with `Prefer: handling=lenient` when unsupported)',
  ),
  401: outcomeAnswer('Not signed in, or the session or token has ended'),
  403: outcomeAnswer('This role or token may not read this type (clinical types: doctors and patients only)'),
  404: outcomeAnswer('Not found, or outside your scope (answered the same way)'),
  406: outcomeAnswer('A `_format` or `Accept` other than FHIR JSON'),
};

const typeParam = {
  name: 'type',
  in: 'path' as const,
  required: true,
  schema: { type: 'string' as const, enum: [...RESOURCE_TYPES] },
};

const tags = ['FHIR R4'];
const security = [{ bearer: [] }];

/** Read, search, `$everything` and `metadata`. */
const READ_PATHS: RouteConfig[] = [
  {
    method: 'get',
    path: `${FHIR_PATH}/metadata`,
    summary: 'FHIR CapabilityStatement: exactly what HDMS serves (anyone)',
    tags,
    responses: { 200: fhirJson('The CapabilityStatement', 'CapabilityStatement'), 406: ERRORS[406]! },
  },
  {
    method: 'get',
    path: `${FHIR_PATH}/{type}`,
    summary: 'FHIR search: a searchset Bundle, one page at a time',
    description: `Parameters: \`_count\` (0-${MAX_COUNT}, default ${DEFAULT_COUNT}) on every type; \`name\` on Patient; \`patient\` (required) on Encounter, Condition, MedicationStatement and DocumentReference; \`date\` on Encounter (prefixes eq, ge, gt, le, lt). \`total\` on the first page; follow the \`next\` link for the rest. See GET ${FHIR_PATH}/metadata.`,
    tags,
    security,
    parameters: [typeParam],
    responses: { 200: fhirJson('A searchset Bundle', 'Bundle'), ...ERRORS },
  } as RouteConfig,
  {
    method: 'get',
    path: `${FHIR_PATH}/{type}/{id}`,
    summary: 'FHIR read: one resource, with a weak ETag of its version',
    description:
      'Ids: Patient, Practitioner, Encounter (a check-up) and DocumentReference (a note) by their HDMS id; Condition `diagnosis-<patientId>`, MedicationStatement `medicine-<patientId>`.',
    tags,
    security,
    parameters: [typeParam, { name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
    responses: { 200: fhirJson('The resource', 'Resource'), ...ERRORS },
  } as RouteConfig,
  {
    method: 'get',
    path: `${FHIR_PATH}/Patient/{id}/$everything`,
    summary: "FHIR Patient $everything: the patient's record as one Bundle",
    description: `The patient, their doctors, the Condition and MedicationStatement, and the latest ${EVERYTHING_MAX_PER_TYPE} Encounters and DocumentReferences (an outcome entry says how many more there are), as far as your role may read them.`,
    tags,
    security,
    parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
    responses: { 200: fhirJson('A searchset Bundle', 'Bundle'), ...ERRORS },
  } as RouteConfig,
];

/** Bulk Data v2 (mounted by `bulk/routes.ts`), as its module describes it. */
const jobParam = { name: 'job', in: 'path' as const, required: true, schema: { type: 'string' as const } };
const BULK_PATHS: RouteConfig[] = [
  {
    method: 'get',
    path: `${FHIR_PATH}/Patient/$export`,
    summary: 'FHIR Bulk Data export kick-off (Prefer: respond-async)',
    description:
      'The patients assigned to you (admins and service tokens: all, without the clinical types), `_type` and `_since` as in FHIR Bulk Data v2. Answers 202 with `Content-Location`: the status URL to poll.',
    tags,
    security,
    responses: { 202: outcomeAnswer('Accepted; poll the `Content-Location`'), ...ERRORS },
  },
  {
    method: 'get',
    path: `${FHIR_PATH}/$export-status/{job}`,
    summary: "A bulk export's status: 202 with X-Progress while it runs, then 200 and the manifest",
    description:
      'While the export runs: 202, no body, `X-Progress` and `Retry-After`. A failed export: 500 and its OperationOutcome.',
    tags,
    security,
    parameters: [jobParam],
    responses: {
      200: {
        description: 'The Bulk Data manifest (transactionTime, request, output files, error files)',
        content: { 'application/json': { schema: { type: 'object' } } },
      },
      ...ERRORS,
    },
  } as RouteConfig,
  {
    method: 'delete',
    path: `${FHIR_PATH}/$export-status/{job}`,
    summary: 'Cancel a bulk export (or delete a finished one’s files)',
    tags,
    security,
    parameters: [jobParam],
    responses: { 202: outcomeAnswer('Cancelled'), ...ERRORS },
  } as RouteConfig,
  {
    method: 'get',
    path: `${FHIR_PATH}/$export-file/{job}/{file}`,
    summary: 'One NDJSON file of a bulk export’s manifest (the requester only)',
    tags,
    security,
    parameters: [jobParam, { name: 'file', in: 'path', required: true, schema: { type: 'string' } }],
    responses: {
      200: {
        description: 'One FHIR resource per line',
        content: { 'application/fhir+ndjson': { schema: {} } },
      },
      ...ERRORS,
    },
  } as RouteConfig,
];

/** The FHIR routes for the OpenAPI document. */
export const FHIR_OPENAPI_PATHS: RouteConfig[] = [...READ_PATHS, ...BULK_PATHS];
