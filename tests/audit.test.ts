import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRouter, type RouterInputs } from '../server/src/trpc/appRouter';
import { type Caller, callerFor, outcome } from './helpers/callers';
import {
  auditSince,
  type CareTeam,
  careTeam,
  lastAuditId,
  linkedPatient,
  serviceToken,
  withAuditFailing,
} from './helpers/clinical';
import { signedInUser, startTestServer, type TestServer } from './helpers/server';
import { nextMillisecond } from './helpers/wait';

/** The audit trail, read through its procedures in process; each test makes the accesses it reads. */
describe('audit trail', () => {
  let t: TestServer;
  let team: CareTeam;
  let admin: Caller;
  let doctorA: Caller;

  /** Audit rows straight from the table, newest first, optionally filtered: the reference answer. */
  const reference = async (keep: (row: { [k: string]: unknown }) => boolean = () => true) =>
    (await t.db.models.AuditEvent.findAll({ order: [['id', 'DESC']] }))
      .map((r) => r.get({ plain: true }) as { [k: string]: unknown })
      .filter(keep)
      .map((r) => r.id as number);

  /** Every id of an `audit.list` query, following the cursor page by page. */
  async function allPages(
    caller: Caller,
    filters: RouterInputs['audit']['list'] & object,
    limit: number,
  ): Promise<{ ids: number[]; pages: number }> {
    const ids: number[] = [];
    let cursor: number | null = null;
    let pages = 0;
    do {
      const result: { items: { id: number }[]; nextCursor: number | null } = await caller.audit.list({
        ...filters,
        limit,
        cursor,
      });
      ids.push(...result.items.map((r) => r.id));
      cursor = result.nextCursor;
      pages++;
    } while (cursor !== null && pages < 100);
    return { ids, pages };
  }

  beforeAll(async () => {
    t = await startTestServer();
    team = await careTeam(t);
    admin = callerFor(t, team.admin.token);
    doctorA = callerFor(t, team.doctorA.token);
  });

  afterAll(async () => {
    await t?.close();
  });

  it('writes a row for every access to a patient record: actor, action, patient, procedure, request id', async () => {
    const last = await lastAuditId(t);
    const patientId = team.patientA.patientId;
    await doctorA.checkHistory.create({ patientId });
    await doctorA.checkHistory.list({ patientId });
    await doctorA.notes.create({ patientId, body: 'audited note' });
    await doctorA.notes.list({ patientId });
    await callerFor(t, team.patientA.token).notes.list({ patientId });
    await admin.checkHistory.list({ patientId });

    const rows = await auditSince(t, last);
    expect(rows.map((r) => [r.actorId, r.actorRole, r.action, r.patientId, r.procedure])).toEqual([
      [team.doctorA.id, 'doctor', 'create', patientId, 'checkHistory.create'],
      [team.doctorA.id, 'doctor', 'read', patientId, 'checkHistory.list'],
      [team.doctorA.id, 'doctor', 'create', patientId, 'notes.create'],
      [team.doctorA.id, 'doctor', 'read', patientId, 'notes.list'],
      [team.patientA.id, 'patient', 'read', patientId, 'notes.list'],
      [team.admin.id, 'admin', 'read', patientId, 'checkHistory.list'],
    ]);
    for (const row of rows) {
      expect(row.actorType).toBe('user');
      expect(row.actorName).toBeTruthy();
      expect(row.requestId).toMatch(/\S{8,}/);
      expect(row.createdAt).toBeInstanceOf(Date);
    }
    expect(new Set(rows.map((r) => r.requestId)).size).toBe(rows.length);
  });

  describe('audit.myAccess', () => {
    it("shows the patient a doctor's read and write of their record, newest first, without request details", async () => {
      const patient = await linkedPatient(t, team.doctorA.doctorId);
      const patientId = patient.patientId;
      await doctorA.notes.create({ patientId, body: 'the secret clinical text' });
      await doctorA.notes.list({ patientId });
      expect((await outcome(callerFor(t, team.doctorB.token).notes.list({ patientId }))).code).toBe(
        'NOT_FOUND',
      );

      const mine = await callerFor(t, patient.token).audit.myAccess();
      expect(mine.items.map((r) => [r.actorName, r.actorRole, r.action, r.procedure])).toEqual([
        [team.doctorA.username, 'doctor', 'read', 'notes.list'],
        [team.doctorA.username, 'doctor', 'create', 'notes.create'],
      ]);
      for (const item of mine.items) {
        expect(Object.keys(item).sort()).toEqual([
          'action',
          'actorName',
          'actorRole',
          'createdAt',
          'emergency',
          'id',
          'procedure',
          'reason',
        ]);
        expect(item).toMatchObject({ emergency: false, reason: null });
        expect(item.createdAt).toBeInstanceOf(Date);
      }
      expect(JSON.stringify(mine)).not.toContain('secret');
      expect(mine.nextCursor).toBeNull();
    });

    it("pages newest first and never shows another patient's accesses", async () => {
      const patient = await linkedPatient(t, team.doctorA.doctorId);
      for (let i = 0; i < 5; i++) await doctorA.checkHistory.list({ patientId: patient.patientId });
      const other = await linkedPatient(t, team.doctorA.doctorId);
      await doctorA.checkHistory.list({ patientId: other.patientId });
      const own = callerFor(t, patient.token);
      const first = await own.audit.myAccess({ limit: 3 });
      const second = await own.audit.myAccess({ limit: 3, cursor: first.nextCursor });
      const ids = [...first.items, ...second.items].map((r) => r.id);
      expect(ids).toEqual(await reference((r) => r.patientId === patient.patientId));
      expect(ids).toHaveLength(5);
      expect(second.nextCursor).toBeNull();
    });

    it('gives an unlinked patient account an empty list and other roles FORBIDDEN', async () => {
      await doctorA.checkHistory.list({ patientId: team.patientA.patientId });
      const unlinked = await signedInUser(t, 'patient');
      expect(await callerFor(t, unlinked.token).audit.myAccess()).toEqual({
        items: [],
        nextCursor: null,
      });
      expect((await outcome(doctorA.audit.myAccess())).code).toBe('FORBIDDEN');
      expect((await outcome(admin.audit.myAccess())).code).toBe('FORBIDDEN');
      const svc = await serviceToken(t, team.admin.token, ['audit:read']);
      expect((await outcome(callerFor(t, svc.token).audit.myAccess())).code).toBe('FORBIDDEN');
      expect((await outcome(callerFor(t).audit.myAccess())).code).toBe('UNAUTHORIZED');
    });
  });

  describe('audit.list', () => {
    let reader: { id: number; name: string; token: string };
    let windowStart: Date;
    let windowEnd: Date;

    beforeAll(async () => {
      reader = await serviceToken(t, team.admin.token, ['checkHistory:read']);
      const svc = callerFor(t, reader.token);
      for (let i = 0; i < 3; i++) await svc.checkHistory.list({ patientId: team.patientB.patientId });
      // The window starts on a later millisecond than anything recorded so far …
      windowStart = await nextMillisecond();
      await admin.checkHistory.createMany([
        { patientId: team.patientA.patientId },
        { patientId: team.patientB.patientId },
      ]);
      await doctorA.checkHistory.list({ patientId: team.patientA.patientId });
      // … and ends on a later one than anything recorded in it.
      windowEnd = await nextMillisecond();
      for (let i = 0; i < 3; i++) await doctorA.notes.list({ patientId: team.patientA.patientId });
    });

    it('lists everything newest first for an admin, over several pages without gaps or repeats', async () => {
      const expected = await reference();
      const { ids, pages } = await allPages(admin, {}, 4);
      expect(pages).toBeGreaterThan(2);
      expect(ids).toEqual(expected);
    });

    it('filters by patient, actor, action and time, and pages each filter', async () => {
      // Each reference is read before its walk: the walk lists the rows that existed when it began.
      const patientRows = await reference((r) => r.patientId === team.patientA.patientId);
      const byPatient = await allPages(admin, { patientId: team.patientA.patientId }, 3);
      expect(byPatient.pages).toBeGreaterThan(1);
      expect(byPatient.ids).toEqual(patientRows);

      const serviceRows = await reference((r) => r.actorType === 'service' && r.actorId === reader.id);
      const byService = await allPages(admin, { actorType: 'service', actorId: reader.id }, 2);
      expect(byService.pages).toBe(2);
      expect(byService.ids).toEqual(serviceRows);
      expect(byService.ids).toHaveLength(3);

      const doctorReads = await reference(
        (r) => r.actorType === 'user' && r.actorId === team.doctorA.id && r.action === 'read',
      );
      const byDoctor = await allPages(
        admin,
        { actorType: 'user', actorId: team.doctorA.id, action: 'read' },
        2,
      );
      expect(byDoctor.ids).toEqual(doctorReads);
      expect(byDoctor.ids.length).toBeGreaterThan(2);

      const createRows = await reference((r) => r.action === 'create');
      const creates = await allPages(admin, { action: 'create' }, 2);
      expect(creates.ids).toEqual(createRows);
      expect(creates.ids.length).toBeGreaterThan(0);

      const windowRows = await reference(
        (r) => (r.createdAt as Date) >= windowStart && (r.createdAt as Date) < windowEnd,
      );
      const inWindow = await allPages(admin, { from: windowStart, to: windowEnd }, 2);
      expect(inWindow.ids).toEqual(windowRows);
      expect(inWindow.ids).toHaveLength(3);
    });

    it('rejects an actorId without actorType (user and service ids overlap) and from after to', async () => {
      expect((await outcome(admin.audit.list({ actorId: team.doctorA.id }))).code).toBe('BAD_REQUEST');
      expect(
        (await outcome(admin.audit.list({ from: new Date('2024-02-01'), to: new Date('2024-01-01') }))).code,
      ).toBe('BAD_REQUEST');
      expect((await outcome(admin.audit.list({ action: 'delete' as never }))).code).toBe('BAD_REQUEST');
    });

    it('is for admins and services holding audit:read only', async () => {
      const auditor = await serviceToken(t, team.admin.token, ['audit:read']);
      const other = await serviceToken(t, team.admin.token, ['patients:read', 'checkHistory:read']);
      const newest = (await reference()).slice(0, 5);
      const viaService = await callerFor(t, auditor.token).audit.list({ limit: 5 });
      expect(viaService.items.map((r) => r.id)).toEqual(newest);
      expect((await outcome(callerFor(t, other.token).audit.list())).code).toBe('FORBIDDEN');
      expect((await outcome(doctorA.audit.list())).code).toBe('FORBIDDEN');
      expect((await outcome(callerFor(t, team.patientA.token).audit.list())).code).toBe('FORBIDDEN');
      expect((await outcome(callerFor(t).audit.list())).code).toBe('UNAUTHORIZED');
    });

    it('returns who, what kind of act, which patient and when, but no clinical content', async () => {
      const body = 'confidential note body 7f3a';
      await doctorA.notes.create({ patientId: team.patientA.patientId, body });
      const result = await admin.audit.list({ limit: 1000 });
      const who = ['actorId', 'actorName', 'actorRole', 'actorType'];
      const what = ['action', 'procedure', 'patientId', 'target', 'emergency', 'emergencyAccessId', 'reason'];
      const when = ['createdAt', 'id', 'ip', 'requestId'];
      for (const item of result.items) {
        const keys = Object.keys(item);
        expect(keys).toEqual(expect.arrayContaining([...who, 'action', 'procedure', 'patientId', ...when]));
        for (const key of keys) expect([...who, ...what, ...when]).toContain(key);
      }
      expect(result.items.map((r) => r.procedure)).toContain('notes.create');
      const text = JSON.stringify(result);
      expect(text).not.toContain(body);
      expect(text).not.toContain('secret diagnosis');
      expect(text).not.toContain('secret medicine');
    });

    it('is served by an index for the unfiltered, per-patient and per-actor pages (no sort step)', async () => {
      const statements: string[] = [];
      const { options } = t.db.sequelize as unknown as { options: { logging?: unknown } };
      const previous = options.logging;
      options.logging = (sql: string) => {
        if (/FROM `audit_events`/.test(sql)) statements.push(sql.replace(/^Executing \([^)]*\): /, ''));
      };
      try {
        await admin.audit.list({ limit: 2, cursor: 1_000_000 });
        await admin.audit.list({ patientId: team.patientA.patientId, limit: 2, cursor: 1_000_000 });
        await admin.audit.list({ actorType: 'user', actorId: team.doctorA.id, limit: 2 });
        await callerFor(t, team.patientA.token).audit.myAccess({ limit: 2 });
      } finally {
        options.logging = previous;
      }
      expect(statements).toHaveLength(4);
      const expectedIndex = [
        null,
        'audit_events_patient_id',
        'audit_events_actor',
        'audit_events_patient_id',
      ];
      for (const [i, sql] of statements.entries()) {
        if (t.db.dialect === 'sqlite') {
          const [plan] = await t.db.sequelize.query(`EXPLAIN QUERY PLAN ${sql}`);
          const detail = (plan as { detail: string }[]).map((p) => p.detail).join('\n');
          expect(detail, sql).not.toMatch(/TEMP B-TREE/);
          if (expectedIndex[i]) expect(detail, sql).toContain(expectedIndex[i]);
        } else {
          const [plan] = await t.db.sequelize.query(`EXPLAIN ${sql}`);
          const row = (plan as { key: string | null; Extra: string | null }[])[0]!;
          expect(row.key, sql).not.toBeNull();
          expect(row.Extra ?? '', sql).not.toMatch(/filesort/i);
        }
      }
    });
  });

  it('offers no way to change or delete audit rows: the audit router has three queries only', () => {
    const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>;
    const auditNames = Object.keys(procedures).filter((p) => p.startsWith('audit.'));
    expect(auditNames.sort()).toEqual(['audit.emergencyAccess', 'audit.list', 'audit.myAccess']);
    for (const name of auditNames) expect(procedures[name]!._def.type).toBe('query');
  });

  describe('group commit of read audit rows', () => {
    /** Runs `work`, returning the INSERT statements into the audit table it sent. */
    async function auditInserts(work: () => Promise<unknown>): Promise<string[]> {
      const sent: string[] = [];
      const { options } = t.db.sequelize as unknown as { options: { logging: unknown } };
      const before = options.logging;
      options.logging = (sql: string) => {
        if (/INSERT INTO [`"]?audit_events/i.test(sql)) sent.push(sql);
      };
      try {
        await work();
      } finally {
        options.logging = before;
      }
      return sent;
    }

    const source = (requestId: string) => ({
      db: t.db,
      actor: null,
      requestId,
      ip: '127.0.0.1',
      procedure: 'test.group',
    });

    it('reads arriving while an audit INSERT runs share the next one, and each waits for its own row', async () => {
      const { recordAudit } = await import('../server/src/domain/audit/record');
      const patientId = team.patientA.patientId;
      const tag = `group-${Date.now()}`;
      const settled: string[] = [];
      const inserts = await auditInserts(() =>
        Promise.all(
          Array.from({ length: 20 }, async (_, i) => {
            await recordAudit(source(`${tag}-${i}`), { action: 'read', patientIds: [patientId] });
            // Once a call's promise resolves, its row is committed and readable by anyone.
            const row = await t.db.models.AuditEvent.findOne({ where: { requestId: `${tag}-${i}` } });
            expect(row?.patientId).toBe(patientId);
            settled.push(`${tag}-${i}`);
          }),
        ),
      );
      expect(settled).toHaveLength(20);
      // The first call's INSERT went at once, alone; the 19 that arrived meanwhile shared one.
      expect(inserts).toHaveLength(2);
    });

    it('fails every read whose rows were in a failed INSERT: no answer without its audit row', async () => {
      const { recordAudit } = await import('../server/src/domain/audit/record');
      const results = await withAuditFailing(t, () =>
        Promise.allSettled(
          Array.from({ length: 5 }, (_, i) =>
            recordAudit(source(`fail-${Date.now()}-${i}`), {
              action: 'read',
              patientIds: [team.patientA.patientId],
            }),
          ),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(Array(5).fill('rejected'));
      expect((await outcome(doctorA.patients.get({ id: team.patientA.patientId }))).code).toBe('OK');
      expect(
        (await withAuditFailing(t, () => outcome(doctorA.patients.get({ id: team.patientA.patientId }))))
          .code,
      ).toBe('INTERNAL_SERVER_ERROR');
    });
  });
});
