import { QueryTypes, type QueryInterface } from 'sequelize';

/** The most bytes a MySQL `TEXT` holds. */
const TEXT_MAX_BYTES = 65_535;

/** Columns that hold up to 20,000 characters (4 bytes each in utf8mb4), or JSON of several. */
const LARGE_TEXT: readonly { table: string; columns: readonly { name: string; nullable: boolean }[] }[] = [
  {
    table: 'patients',
    columns: [
      { name: 'diagnosis', nullable: true },
      { name: 'prescribed_medicine', nullable: true },
    ],
  },
  { table: 'notes', columns: [{ name: 'body', nullable: false }] },
  { table: 'patient_revisions', columns: [{ name: 'changes', nullable: false }] },
];

function isMysql(qi: QueryInterface): boolean {
  return qi.sequelize.getDialect() === 'mysql';
}

/** One `ALTER TABLE` per table, giving each listed column `type`. */
async function retype(qi: QueryInterface, type: 'MEDIUMTEXT' | 'TEXT'): Promise<void> {
  for (const { table, columns } of LARGE_TEXT) {
    const changes = columns.map((c) => `MODIFY \`${c.name}\` ${type} ${c.nullable ? 'NULL' : 'NOT NULL'}`);
    await qi.sequelize.query(`ALTER TABLE \`${table}\` ${changes.join(', ')}`);
  }
}

/**
 * Sizes columns for their largest valid values. On MySQL a `TEXT` holds 65,535 bytes, less than
 * 20,000 four-byte characters: diagnosis, prescribed medicine, note bodies and revision changes
 * become `MEDIUMTEXT` (16 MiB), and the sign-in throttle key (`user:` plus a 254-character name)
 * `VARCHAR(300)`. SQLite enforces no length on TEXT or VARCHAR, so nothing changes there.
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  if (!isMysql(qi)) return;
  await retype(qi, 'MEDIUMTEXT');
  await qi.sequelize.query('ALTER TABLE `login_failures` MODIFY `key` VARCHAR(300) NOT NULL');
}

/**
 * Restores `TEXT` and `VARCHAR(200)` on MySQL. Refuses while a clinical value would not fit (it
 * would be cut short); throttle entries with longer keys are dropped, as they expire within
 * minutes anyway.
 */
export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  if (!isMysql(qi)) return;
  for (const { table, columns } of LARGE_TEXT) {
    for (const { name } of columns) {
      const [row] = await qi.sequelize.query<{ longest: number | string | null }>(
        `SELECT MAX(LENGTH(\`${name}\`)) AS longest FROM \`${table}\``,
        { type: QueryTypes.SELECT },
      );
      const longest = Number(row?.longest ?? 0);
      if (longest > TEXT_MAX_BYTES) {
        throw new Error(
          `cannot revert 0002_column_sizes: ${table}.${name} holds a value of ${longest} bytes, more than TEXT holds (${TEXT_MAX_BYTES})`,
        );
      }
    }
  }
  await qi.sequelize.query('DELETE FROM `login_failures` WHERE CHAR_LENGTH(`key`) > 200');
  await qi.sequelize.query('ALTER TABLE `login_failures` MODIFY `key` VARCHAR(200) NOT NULL');
  await retype(qi, 'TEXT');
}
