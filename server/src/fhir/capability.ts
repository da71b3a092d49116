import type {
  CapabilityStatement,
  CapabilityStatementRestResource,
  CapabilityStatementRestResourceOperation,
} from '@medplum/fhirtypes';
import { type FhirBase, RESOURCE_TYPES } from './mapping';
import { searchParamsOf } from './params';
import { EVERYTHING_MAX_PER_TYPE } from './resources';

/**
 * The CapabilityStatement `GET /fhir/R4/metadata` answers: exactly what HDMS supports, read from
 * the same lists the routes use (`RESOURCE_TYPES`, `SEARCH_PARAMS`). `patientOperations` are
 * operations on Patient that other modules mount (Bulk Data's `$export`: `FhirDeps`).
 */
export function capabilityStatement(
  base: FhirBase,
  date: Date,
  patientOperations: readonly CapabilityStatementRestResourceOperation[],
): CapabilityStatement {
  const resource: CapabilityStatementRestResource[] = RESOURCE_TYPES.map((type) => ({
    type,
    interaction: [{ code: 'read' }, { code: 'search-type' }],
    versioning: 'versioned',
    readHistory: false,
    updateCreate: false,
    searchParam: searchParamsOf(type).map((p) => ({
      name: p.name,
      type: p.type,
      documentation: p.documentation,
    })),
    ...(type === 'Patient'
      ? {
          operation: [
            {
              name: 'everything',
              definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything',
              documentation: `GET Patient/<id>/$everything: the patient, their doctors, Condition and MedicationStatement, and the latest ${EVERYTHING_MAX_PER_TYPE} Encounters and DocumentReferences (an outcome entry says how many more there are).`,
            },
            ...patientOperations,
          ],
        }
      : {}),
  }));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: date.toISOString(),
    kind: 'instance',
    software: { name: 'HDMS' },
    implementation: { description: 'HDMS FHIR R4 API (read-only)', url: base.url },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        documentation:
          'Read-only. Sign in as for the rest of the API: Authorization: Bearer <session token or service token>. A resource outside your scope answers 404 like a missing one.',
        security: {
          cors: false,
          description:
            'Bearer session tokens (POST /login) and service tokens; the same roles and scope as the API.',
        },
        resource,
      },
    ],
  };
}
