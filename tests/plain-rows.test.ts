import { type Database, findPlain, insertPlain, migrateToLatest, Op } from '@hdms/db';
import type { FindOptions } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFreshDatabase, type TestDatabase } from './helpers/db';

/**
 * The hot paths' plain rows (`db/src/plain.ts`) against Sequelize itself on this project's
 * database: the same rows, values and types as model instances would hold, whether findPlain
 * writes the query out or hands it to Sequelize, and inserted rows stored as bulkCreate would.
 */
describe('plain rows', () => {
  let db: Database;
  let target: TestDatabase;
  let doctorIds: number[];

  beforeAll(async () => {
    ({ db, target } = await openFreshDatabase());
    await migrateToLatest(db.sequelize);
    const doctors = await db.models.Doctor.bulkCreate([
      { name: 'Dr. A', specialization: 'X' },
      { name: 'Dr. B', specialization: 'Y' },
    ]);
    doctorIds = doctors.map((d) => d.id);
    await db.models.Patient.bulkCreate(
      Array.from({ length: 30 }, (_, i) => ({
        name: `Patient ${i}`,
        age: i,
        gender: i % 2 ? 'female' : 'male',
        doctorId: i % 3 === 0 ? null : doctorIds[i % 2]!,
        roomNumber: i % 4 ? String(i) : null,
        bedNumber: 'B',
        diagnosis: i % 5 ? `diagnosis ${i}` : null,
      })),
    );
  });
  afterAll(async () => {
    await db?.close();
    await target?.drop();
  });

  const queries = (): [string, FindOptions][] => [
    ['everything', {}],
    [
      'by doctor, in id order, limited',
      { where: { doctorId: doctorIds[0] }, order: [['id', 'ASC']], limit: 5 },
    ],
    [
      'newest first after a cursor',
      { where: { [Op.and]: [{}, { id: { [Op.lt]: 20 } }] }, order: [['id', 'DESC']], limit: 4 },
    ],
    ['no doctor', { where: { doctorId: null }, attributes: ['id', 'name', 'createdAt'] }],
    ['ids in a list', { where: { id: [3, 5, 8] }, attributes: ['id', 'diagnosis', 'updatedAt'] }],
    ['ranges and-ed', { where: { [Op.and]: [{ age: { [Op.gte]: 5, [Op.lte]: 9 } }, { gender: 'female' }] } }],
    ['not equal', { where: { gender: { [Op.ne]: 'male' } }, order: [['id', 'ASC']] }],
    // Not simple: these go through Sequelize, with the same conversion of the rows.
    ['a null comparison', { where: { roomNumber: { [Op.ne]: null } } }],
    ['ordered by name', { order: [['name', 'DESC']], limit: 3 }],
  ];

  it('reads what model instances hold, query by query', async () => {
    for (const [name, options] of queries()) {
      const plain = await findPlain(db.models.Patient, options);
      const instances = (await db.models.Patient.findAll(options)).map((p) => p.get({ plain: true }));
      expect(plain, name).toEqual(instances);
      expect(plain.length, name).toBeGreaterThan(0);
      for (const row of plain) {
        if ('createdAt' in row) expect(row.createdAt, name).toBeInstanceOf(Date);
      }
    }
  });

  it('inserts as bulkCreate stores: ids in order, timestamps, setters, and the longest and oddest text', async () => {
    const longest = 'é'.repeat(200);
    const { ids, at } = await insertPlain(db.models.Patient, [
      {
        name: longest,
        age: 150,
        gender: 'x'.repeat(32),
        doctorId: doctorIds[1]!,
        roomNumber: null,
        bedNumber: null,
      },
      { name: "quote ' and \\ back\u0000slash and NUL", age: 0, gender: '☃', doctorId: null },
    ]);
    expect(ids[1]).toBe(ids[0]! + 1);
    const stored = (await db.models.Patient.findAll({ where: { id: ids }, order: [['id', 'ASC']] })).map(
      (p) => p.get({ plain: true }),
    );
    expect(stored.map((p) => p.name)).toEqual([longest, "quote ' and \\ back\u0000slash and NUL"]);
    expect(stored[0]!.createdAt.getTime()).toBe(at.getTime());
    expect(stored[0]!.updatedAt.getTime()).toBe(at.getTime());
    expect(stored[1]!.roomNumber).toBeNull();

    const {
      ids: [event],
    } = await insertPlain(db.models.ChangeEvent, [
      { type: 'patient.updated', entityId: ids[0]!, patientId: ids[0]!, fields: ['name', 'age'] },
    ]);
    const read = await db.models.ChangeEvent.findByPk(event!);
    expect(read?.fields).toEqual(['name', 'age']);
    expect((await findPlain(db.models.ChangeEvent, { where: { id: event! } }))[0]?.fields).toEqual([
      'name',
      'age',
    ]);
  });

  it('splits an insert with more values than one statement may carry (SQLite: 32,766), ids still in order', async () => {
    const rows = Array.from({ length: 4000 }, (_, i) => ({
      actorType: 'user' as const,
      actorId: 1,
      actorName: 'bulk',
      actorRole: 'doctor',
      action: 'read' as const,
      patientId: (i % 30) + 1,
      procedure: 'test.bulk',
      requestId: `bulk-${i}`,
      ip: '127.0.0.1',
    }));
    const { ids } = await insertPlain(db.models.AuditEvent, rows);
    expect(ids).toHaveLength(4000);
    expect(ids[3999]! - ids[0]!).toBe(3999);
    const last = await db.models.AuditEvent.findByPk(ids[3999]!);
    expect(last?.requestId).toBe('bulk-3999');
  });
});
