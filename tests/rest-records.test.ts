import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, http, signedInUser, type TestServer, startTestServer } from './helpers/server';

/** The original system's endpoints, over HTTP: their wire format is the subject. */
describe('REST: /doctors, /patients, /users/:id/link', () => {
  let t: TestServer;
  let admin: string;
  let drA: number;
  let drB: number;

  beforeAll(async () => {
    t = await startTestServer();
    admin = await adminToken(t);
    const res = await http(t.url, 'POST', '/doctors', {
      token: admin,
      body: [
        { name: 'Dr. Alpha', specialization: 'Cardiology' },
        { name: 'Dr. Beta', specialization: 'Neurology' },
      ],
    });
    drA = res.body[0].id;
    drB = res.body[1].id;
  });
  afterAll(async () => {
    await t.close();
  });

  describe("the original system's test_routes", () => {
    it('add a doctor: one object in, 201 with one object {id, name, specialization} out', async () => {
      const res = await http(t.url, 'POST', '/doctors', {
        token: admin,
        body: { name: 'Dr. Holmes', specialization: 'Surgery' },
      });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ id: expect.any(Number), name: 'Dr. Holmes', specialization: 'Surgery' });
      expect(await t.db.models.Doctor.findByPk(res.body.id)).toMatchObject({ name: 'Dr. Holmes' });
    });

    it('get doctors: 200 with a list of {id, name, specialization}', async () => {
      const created = await http(t.url, 'POST', '/doctors', {
        token: admin,
        body: { name: 'Dr. Listed', specialization: 'Surgery' },
      });
      const res = await http(t.url, 'GET', '/doctors', { token: admin });
      expect(res.status).toBe(200);
      expect(Array.isArray(res.body)).toBe(true);
      expect(res.body).toContainEqual({
        id: created.body.id,
        name: 'Dr. Listed',
        specialization: 'Surgery',
      });
      for (const d of res.body) expect(Object.keys(d).sort()).toEqual(['id', 'name', 'specialization']);
    });

    it('add a patient: one object in, 201 with one object {id, name} out', async () => {
      const res = await http(t.url, 'POST', '/patients', {
        token: admin,
        body: {
          name: 'John Doe',
          age: 30,
          gender: 'Male',
          doctor_id: drA,
          room_number: '100',
          bed_number: '1',
        },
      });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ id: expect.any(Number), name: 'John Doe' });
      const row = await t.db.models.Patient.findByPk(res.body.id);
      expect(row).toMatchObject({ doctorId: drA, roomNumber: '100', bedNumber: '1', age: 30 });
    });

    it('get patients: 200 with a list of {id, name, age, gender, doctor_id}', async () => {
      const created = await http(t.url, 'POST', '/patients', {
        token: admin,
        body: { name: 'Jane Listed', age: 30, gender: 'Male', doctor_id: drA },
      });
      const res = await http(t.url, 'GET', '/patients', { token: admin });
      expect(res.status).toBe(200);
      expect(res.body).toContainEqual({
        id: created.body.id,
        name: 'Jane Listed',
        age: 30,
        gender: 'Male',
        doctor_id: drA,
      });
      for (const p of res.body)
        expect(Object.keys(p).sort()).toEqual(['age', 'doctor_id', 'gender', 'id', 'name']);
    });

    it('missing fields: 400 with an error and the issues', async () => {
      const doctor = await http(t.url, 'POST', '/doctors', { token: admin, body: { name: 'Dr. NoSpec' } });
      expect(doctor.status).toBe(400);
      expect(doctor.body.error).toMatch(/specialization/);
      expect(doctor.body.issues).toContainEqual({ path: 'specialization', message: expect.any(String) });
      const patient = await http(t.url, 'POST', '/patients', {
        token: admin,
        body: { age: 30, gender: 'Male', doctor_id: drA },
      });
      expect(patient.status).toBe(400);
      expect(patient.body.issues.map((i: { path: string }) => i.path)).toContain('name');
    });

    it('batch payloads: arrays in, 201 with arrays out, in order', async () => {
      const doctors = await http(t.url, 'POST', '/doctors', {
        token: admin,
        body: [
          { name: 'Dr. One', specialization: 'A' },
          { name: 'Dr. Two', specialization: 'B' },
        ],
      });
      expect(doctors.status).toBe(201);
      expect(doctors.body.map((d: { name: string }) => d.name)).toEqual(['Dr. One', 'Dr. Two']);
      const patients = await http(t.url, 'POST', '/patients', {
        token: admin,
        body: [
          { name: 'P One', age: 1, gender: 'F', doctor_id: drA, room_number: 1, bed_number: 1 },
          { name: 'P Two', age: 2, gender: 'M', doctor_id: drB, room_number: '2', bed_number: '2' },
        ],
      });
      expect(patients.status).toBe(201);
      expect(patients.body).toEqual([
        { id: expect.any(Number), name: 'P One' },
        { id: expect.any(Number), name: 'P Two' },
      ]);
      const rows = await t.db.models.Patient.findAll({
        where: { id: patients.body.map((p: { id: number }) => p.id) },
      });
      expect(rows.map((r) => [r.name, r.doctorId, r.roomNumber]).sort()).toEqual([
        ['P One', drA, '1'],
        ['P Two', drB, '2'],
      ]);
    });

    it('an array of one is still an array, and one object is still one object', async () => {
      const batchOfOne = await http(t.url, 'POST', '/doctors', {
        token: admin,
        body: [{ name: 'Dr. Alone', specialization: 'A' }],
      });
      expect(batchOfOne.status).toBe(201);
      expect(batchOfOne.body).toEqual([{ id: expect.any(Number), name: 'Dr. Alone', specialization: 'A' }]);
      const patientBatch = await http(t.url, 'POST', '/patients', {
        token: admin,
        body: [{ name: 'P Alone', age: 5, gender: 'F', doctor_id: drA }],
      });
      expect(patientBatch.status).toBe(201);
      expect(patientBatch.body).toEqual([{ id: expect.any(Number), name: 'P Alone' }]);
      const patient = await http(t.url, 'POST', '/patients', {
        token: admin,
        body: { name: 'P Single', age: 6, gender: 'M', doctor_id: drB },
      });
      expect(patient.status).toBe(201);
      expect(patient.body).toEqual({ id: expect.any(Number), name: 'P Single' });
    });
  });

  describe('batches are all-or-nothing', () => {
    it('a bad doctor at index 2 of 3: 400 naming item 2, nothing written', async () => {
      const before = await t.db.models.Doctor.count();
      const res = await http(t.url, 'POST', '/doctors', {
        token: admin,
        body: [
          { name: 'Dr. X', specialization: 'A' },
          { name: 'Dr. Y', specialization: 'B' },
          { name: 'Dr. Z' },
        ],
      });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(/item 2/);
      expect(res.body.issues[0].path).toBe('2.specialization');
      expect(await t.db.models.Doctor.count()).toBe(before);
    });

    it('a patient at index 2 of 3 with a missing doctor: 400 naming item 2, nothing written', async () => {
      const before = await t.db.models.Patient.count();
      const res = await http(t.url, 'POST', '/patients', {
        token: admin,
        body: [
          { name: 'A', age: 1, gender: 'F', doctor_id: drA },
          { name: 'B', age: 2, gender: 'F', doctor_id: drB },
          { name: 'C', age: 3, gender: 'F', doctor_id: 424_242 },
        ],
      });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        error: 'Invalid input: item 2: doctor_id: Doctor not found',
        issues: [{ path: '2.doctor_id', message: 'Doctor not found' }],
      });
      expect(await t.db.models.Patient.count()).toBe(before);
    });

    it('one patient with a missing doctor: 400 naming doctor_id, nothing written', async () => {
      const before = await t.db.models.Patient.count();
      const res = await http(t.url, 'POST', '/patients', {
        token: admin,
        body: { name: 'D', age: 4, gender: 'F', doctor_id: 424_242 },
      });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        error: 'Invalid input: doctor_id: Doctor not found',
        issues: [{ path: 'doctor_id', message: 'Doctor not found' }],
      });
      expect(await t.db.models.Patient.count()).toBe(before);
    });
  });

  describe('access', () => {
    it('401 without a token, 403 for a role that may not write, 415 for a non-JSON body', async () => {
      expect((await http(t.url, 'GET', '/doctors')).status).toBe(401);
      expect((await http(t.url, 'GET', '/patients')).body).toEqual({ error: 'Sign in first' });
      const patient = await signedInUser(t, 'patient');
      const res = await http(t.url, 'POST', '/doctors', {
        token: patient.token,
        body: { name: 'Dr. Nope', specialization: 'X' },
      });
      expect(res.status).toBe(403);
      expect(
        (
          await http(t.url, 'POST', '/doctors', {
            token: admin,
            raw: 'name=x',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
          })
        ).status,
      ).toBe(415);
    });

    it('a doctor admits their own patients over REST and may not admit for another doctor', async () => {
      const doctor = await signedInUser(t, 'doctor', { doctorId: drB });
      const ok = await http(t.url, 'POST', '/patients', {
        token: doctor.token,
        body: { name: 'Mine', age: 44, gender: 'F', room_number: '5', bed_number: '6' },
      });
      expect(ok.status).toBe(201);
      expect((await t.db.models.Patient.findByPk(ok.body.id))?.doctorId).toBe(drB);
      const denied = await http(t.url, 'POST', '/patients', {
        token: doctor.token,
        body: { name: 'Not mine', age: 44, gender: 'F', doctor_id: drA },
      });
      expect(denied.status).toBe(403);
    });

    it('GET /patients returns only the caller scope, for each role', async () => {
      await http(t.url, 'POST', '/patients', {
        token: admin,
        body: [
          { name: 'Scope A1', age: 1, gender: 'F', doctor_id: drA },
          { name: 'Scope A2', age: 2, gender: 'F', doctor_id: drA },
          { name: 'Scope B1', age: 3, gender: 'M', doctor_id: drB },
        ],
      });
      const all = (await http(t.url, 'GET', '/patients?limit=1000', { token: admin })).body as {
        id: number;
        doctor_id: number;
      }[];
      expect(all.length).toBeGreaterThan(2);

      const doctorA = await signedInUser(t, 'doctor', { doctorId: drA });
      const mine = (await http(t.url, 'GET', '/patients?limit=1000', { token: doctorA.token })).body as {
        doctor_id: number;
      }[];
      expect(mine.length).toBe(all.filter((p) => p.doctor_id === drA).length);
      expect(mine.every((p) => p.doctor_id === drA)).toBe(true);

      const target = all.find((p) => p.doctor_id === drB)!;
      const self = await signedInUser(t, 'patient', { patientId: target.id });
      const own = await http(t.url, 'GET', '/patients', { token: self.token });
      expect(own.body.map((p: { id: number }) => p.id)).toEqual([target.id]);

      const unlinked = await signedInUser(t, 'doctor');
      const none = await http(t.url, 'GET', '/patients', { token: unlinked.token });
      expect(none).toMatchObject({ status: 200, body: [] });
    });
  });

  describe('paging with ?limit= and ?after=', () => {
    it('limits and continues after an id', async () => {
      await http(t.url, 'POST', '/doctors', {
        token: admin,
        body: [
          { name: 'Dr. Page 1', specialization: 'P' },
          { name: 'Dr. Page 2', specialization: 'P' },
        ],
      });
      const first = await http(t.url, 'GET', '/doctors?limit=2', { token: admin });
      expect(first.body).toHaveLength(2);
      const next = await http(t.url, 'GET', `/doctors?limit=2&after=${first.body[1].id}`, { token: admin });
      expect(next.body[0].id).toBeGreaterThan(first.body[1].id);
      const all = await http(t.url, 'GET', '/doctors', { token: admin });
      expect(all.body.slice(0, 4).map((d: { id: number }) => d.id)).toEqual(
        [...first.body, ...next.body].map((d: { id: number }) => d.id),
      );
    });

    it('bad query values are 400 naming the parameter', async () => {
      for (const query of [
        'limit=0',
        'limit=1001',
        'limit=abc',
        'limit=1.5',
        'after=-1',
        'after=x',
        'after=0',
      ]) {
        for (const path of ['/doctors', '/patients']) {
          const res = await http(t.url, 'GET', `${path}?${query}`, { token: admin });
          expect(res.status, `${path}?${query}`).toBe(400);
          expect(res.body.issues[0].path).toBe(query.split('=')[0]);
        }
      }
    });
  });

  describe('POST /users/:id/link', () => {
    it('links a doctor account and answers 200 with the user in snake_case', async () => {
      const doctor = await signedInUser(t, 'doctor');
      const { body: created } = await http(t.url, 'POST', '/doctors', {
        token: admin,
        body: { name: 'Dr. Linked', specialization: 'Rest' },
      });
      const res = await http(t.url, 'POST', `/users/${doctor.id}/link`, {
        token: admin,
        body: { doctor_id: created.id },
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        id: doctor.id,
        username: doctor.username,
        role: 'doctor',
        doctor_id: created.id,
        patient_id: null,
        disabled: false,
      });
      expect(res.body).not.toHaveProperty('password_hash');
    });

    it('answers 400, 403, 404 and 409 as the contract says', async () => {
      const patient = await signedInUser(t, 'patient');
      const other = await signedInUser(t, 'patient');
      const { body: p } = await http(t.url, 'POST', '/patients', {
        token: admin,
        body: { name: 'Linkable', age: 9, gender: 'F', doctor_id: drA },
      });
      const link = (id: number | string, body: unknown, token = admin) =>
        http(t.url, 'POST', `/users/${id}/link`, { token, body });
      expect((await link(patient.id, { patient_id: p.id })).status).toBe(200);
      expect((await link(other.id, { patient_id: p.id })).status).toBe(409);
      expect((await link(patient.id, { doctor_id: drA })).status).toBe(400);
      expect((await link('abc', { patient_id: p.id })).status).toBe(400);
      expect((await link(patient.id, [{ patient_id: p.id }])).status).toBe(400);
      expect((await link(999_999, { patient_id: p.id })).status).toBe(404);
      expect((await link(other.id, { patient_id: 999_999 })).status).toBe(404);
      expect((await link(other.id, { patient_id: p.id }, patient.token)).status).toBe(403);
    });
  });
});
