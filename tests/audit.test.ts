import type { AppRouter } from '../server/src/routers/_app';
import type { TRPCClient } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRouter } from '../server/src/routers/_app';
import { type CareTeam, careTeam, lastAuditId, linkedPatient, serviceToken } from './helpers/clinical';
import { signedInUser, startTestServer, type TestServer, trpcClient, trpcCode } from './helpers/server';

describe('audit trail', () => {
  let t: TestServer;
  let team: CareTeam;
  let admin: TRPCClient<AppRouter>;
  let doctorA: TRPCClient<AppRouter>;

  /** Audit rows straight from the table, newest first, optionally filtered: the reference answer. */
  const reference = async (keep: (row: { [k: string]: unknown }) => boolean = () => true) =>
    (await t.db.models.AuditEvent.findAll({ order: [['id', 'DESC']] }))
      .map((r) => r.get({ plain: true }) as { [k: string]: unknown })
      .filter(keep)
      .map((r) => r.id as number);

  /** Every id of an `audit.list` query, following the cursor page by page. */
  async function allPages(
    client: TRPCClient<AppRouter>,
    filters: Parameters<TRPCClient<AppRouter>['audit']['list']['query']>[0] & object,
    limit: number,
  ): Promise<{ ids: number[]; pages: number }> {
    const ids: number[] = [];
    let cursor: number | null = null;
    let pages = 0;
    do {
      const result: { items: { id: number }[]; nextCursor: number | null } = await client.audit.list.query({
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
    admin = trpcClient(t.url, team.admin.token);
    doctorA = trpcClient(t.url, team.doctorA.token);
  });

  afterAll(async () => {
    await t?.close();
  });

  it('writes a row for every access to a patient record: actor, action, patient, procedure, request id', async () => {
    const last = await lastAuditId(t);
    const patientId = team.patientA.patientId;
    await doctorA.checkHistory.create.mutate({ patientId });
    await doctorA.checkHistory.list.query({ patientId });
    await doctorA.notes.create.mutate({ patientId, body: 'audited note' });
    await doctorA.notes.list.query({ patientId });
    await trpcClient(t.url, team.patientA.token).notes.list.query({ patientId });
    await admin.checkHistory.list.query({ patientId });

    const rows = (await t.db.models.AuditEvent.findAll({ order: [['id', 'ASC']] })).filter(
      (r) => r.id > last,
    );
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
      await doctorA.notes.create.mutate({ patientId, body: 'the secret clinical text' });
      await doctorA.notes.list.query({ patientId });
      await trpcClient(t.url, team.doctorB.token)
        .notes.list.query({ patientId })
        .catch(() => undefined);

      const mine = await trpcClient(t.url, patient.token).audit.myAccess.query();
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
          'id',
          'procedure',
        ]);
        expect(item.createdAt).toBeInstanceOf(Date);
      }
      expect(JSON.stringify(mine)).not.toContain('secret');
      expect(mine.nextCursor).toBeNull();
    });

    it("pages newest first and never shows another patient's accesses", async () => {
      const patient = await linkedPatient(t, team.doctorA.doctorId);
      for (let i = 0; i < 5; i++) await doctorA.checkHistory.list.query({ patientId: patient.patientId });
      const client = trpcClient(t.url, patient.token);
      const first = await client.audit.myAccess.query({ limit: 3 });
      const second = await client.audit.myAccess.query({ limit: 3, cursor: first.nextCursor });
      const ids = [...first.items, ...second.items].map((r) => r.id);
      expect(ids).toEqual(await reference((r) => r.patientId === patient.patientId));
      expect(ids).toHaveLength(5);
      expect(second.nextCursor).toBeNull();
    });

    it('gives an unlinked patient account an empty list and other roles FORBIDDEN', async () => {
      const unlinked = await signedInUser(t, 'patient');
      expect(await trpcClient(t.url, unlinked.token).audit.myAccess.query()).toEqual({
        items: [],
        nextCursor: null,
      });
      expect(await trpcCode(doctorA.audit.myAccess.query())).toBe('FORBIDDEN');
      expect(await trpcCode(admin.audit.myAccess.query())).toBe('FORBIDDEN');
      const svc = await serviceToken(t, team.admin.id, ['audit:read']);
      expect(await trpcCode(trpcClient(t.url, svc.token).audit.myAccess.query())).toBe('FORBIDDEN');
      expect(await trpcCode(trpcClient(t.url).audit.myAccess.query())).toBe('UNAUTHORIZED');
    });
  });

  describe('audit.list', () => {
    let reader: { id: number; name: string; token: string };
    let windowStart: Date;
    let windowEnd: Date;

    beforeAll(async () => {
      reader = await serviceToken(t, team.admin.id, ['checkHistory:read']);
      const svc = trpcClient(t.url, reader.token);
      for (let i = 0; i < 3; i++) await svc.checkHistory.list.query({ patientId: team.patientB.patientId });
      await new Promise((r) => setTimeout(r, 20));
      windowStart = new Date();
      await admin.checkHistory.createMany.mutate([
        { patientId: team.patientA.patientId },
        { patientId: team.patientB.patientId },
      ]);
      await doctorA.checkHistory.list.query({ patientId: team.patientA.patientId });
      await new Promise((r) => setTimeout(r, 20));
      windowEnd = new Date();
      await doctorA.notes.list.query({ patientId: team.patientA.patientId });
    });

    it('lists everything newest first for an admin, over several pages without gaps or repeats', async () => {
      const { ids, pages } = await allPages(admin, {}, 4);
      expect(pages).toBeGreaterThan(2);
      expect(ids).toEqual(await reference());
    });

    it('filters by patient, actor, action and time, and pages each filter', async () => {
      const byPatient = await allPages(admin, { patientId: team.patientA.patientId }, 3);
      expect(byPatient.pages).toBeGreaterThan(1);
      expect(byPatient.ids).toEqual(await reference((r) => r.patientId === team.patientA.patientId));

      const byService = await allPages(admin, { actorType: 'service', actorId: reader.id }, 2);
      expect(byService.pages).toBe(2);
      expect(byService.ids).toEqual(
        await reference((r) => r.actorType === 'service' && r.actorId === reader.id),
      );
      expect(byService.ids).toHaveLength(3);

      const byDoctor = await allPages(
        admin,
        { actorType: 'user', actorId: team.doctorA.id, action: 'read' },
        2,
      );
      expect(byDoctor.ids).toEqual(
        await reference(
          (r) => r.actorType === 'user' && r.actorId === team.doctorA.id && r.action === 'read',
        ),
      );
      expect(byDoctor.ids.length).toBeGreaterThan(2);

      const creates = await allPages(admin, { action: 'create' }, 2);
      expect(creates.ids).toEqual(await reference((r) => r.action === 'create'));

      const inWindow = await allPages(admin, { from: windowStart, to: windowEnd }, 2);
      expect(inWindow.ids).toEqual(
        await reference((r) => (r.createdAt as Date) >= windowStart && (r.createdAt as Date) < windowEnd),
      );
      expect(inWindow.ids).toHaveLength(3);
    });

    it('rejects an actorId without actorType (user and service ids overlap) and from after to', async () => {
      expect(await trpcCode(admin.audit.list.query({ actorId: team.doctorA.id }))).toBe('BAD_REQUEST');
      expect(
        await trpcCode(admin.audit.list.query({ from: new Date('2024-02-01'), to: new Date('2024-01-01') })),
      ).toBe('BAD_REQUEST');
      expect(await trpcCode(admin.audit.list.query({ action: 'delete' as never }))).toBe('BAD_REQUEST');
    });

    it('is for admins and services holding audit:read only', async () => {
      const auditor = await serviceToken(t, team.admin.id, ['audit:read']);
      const other = await serviceToken(t, team.admin.id, ['patients:read', 'checkHistory:read']);
      const viaService = await trpcClient(t.url, auditor.token).audit.list.query({ limit: 5 });
      expect(viaService.items.map((r) => r.id)).toEqual((await reference()).slice(0, 5));
      expect(await trpcCode(trpcClient(t.url, other.token).audit.list.query())).toBe('FORBIDDEN');
      expect(await trpcCode(doctorA.audit.list.query())).toBe('FORBIDDEN');
      expect(await trpcCode(trpcClient(t.url, team.patientA.token).audit.list.query())).toBe('FORBIDDEN');
      expect(await trpcCode(trpcClient(t.url).audit.list.query())).toBe('UNAUTHORIZED');
    });

    it('returns who, what kind of act, which patient and when, but no clinical content', async () => {
      const body = 'confidential note body 7f3a';
      await doctorA.notes.create.mutate({ patientId: team.patientA.patientId, body });
      const result = await admin.audit.list.query({ limit: 1000 });
      expect(Object.keys(result.items[0]!).sort()).toEqual([
        'action',
        'actorId',
        'actorName',
        'actorRole',
        'actorType',
        'createdAt',
        'id',
        'ip',
        'patientId',
        'procedure',
        'requestId',
      ]);
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
        await admin.audit.list.query({ limit: 2, cursor: 1_000_000 });
        await admin.audit.list.query({ patientId: team.patientA.patientId, limit: 2, cursor: 1_000_000 });
        await admin.audit.list.query({ actorType: 'user', actorId: team.doctorA.id, limit: 2 });
        await trpcClient(t.url, team.patientA.token).audit.myAccess.query({ limit: 2 });
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

  it('offers no way to change or delete audit rows: the audit router has two queries only', () => {
    const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>;
    const auditNames = Object.keys(procedures).filter((p) => p.startsWith('audit.'));
    expect(auditNames.sort()).toEqual(['audit.list', 'audit.myAccess']);
    for (const name of auditNames) expect(procedures[name]!._def.type).toBe('query');
  });
});
