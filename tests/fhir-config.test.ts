import { describe, expect, it } from 'vitest';
import { loadConfig } from '../server/src/env';

/* The FHIR settings of env.ts: PUBLIC_URL (absolute links) and FHIR_IDENTIFIER_SYSTEM. */

describe('FHIR configuration', () => {
  it('defaults to the listening address and the urn:hdms:patient-id identifier system', () => {
    const config = loadConfig({});
    expect(config.publicUrl).toBeNull();
    expect(config.fhirIdentifierSystem).toBe('urn:hdms:patient-id');
  });

  it('takes an http(s) PUBLIC_URL, without its trailing slashes, and an absolute identifier URI', () => {
    const config = loadConfig({
      PUBLIC_URL: 'https://hdms.clinic.example.org/base//',
      FHIR_IDENTIFIER_SYSTEM: 'https://clinic.example.org/patient-id',
    });
    expect(config.publicUrl).toBe('https://hdms.clinic.example.org/base');
    expect(config.fhirIdentifierSystem).toBe('https://clinic.example.org/patient-id');
    expect(loadConfig({ PUBLIC_URL: '' }).publicUrl).toBeNull();
  });

  it.each([
    ['PUBLIC_URL', 'hdms.example.org', /PUBLIC_URL must be an absolute http\(s\) URL/],
    ['PUBLIC_URL', 'ftp://hdms.example.org', /PUBLIC_URL must be an http or https URL/],
    ['PUBLIC_URL', 'https://hdms.example.org/?a=1', /PUBLIC_URL must not have a query or fragment/],
    ['FHIR_IDENTIFIER_SYSTEM', 'patient id', /FHIR_IDENTIFIER_SYSTEM must be an absolute URI/],
  ])('refuses %s=%s naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});
