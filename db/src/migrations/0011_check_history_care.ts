import { DataTypes, type QueryInterface } from 'sequelize';

/**
 * Who saw the patient, and where, at each check-up: `doctor_id` (the patient's assigned Doctor
 * record when the check-up was recorded) and `room_number` (the patient's room then). Both are
 * null on check-ups recorded before this migration: no one can say now who and where it was, and
 * the patient's current doctor and room are never stamped on past check-ups. FHIR maps them to
 * `Encounter.participant` and `Encounter.location`. No foreign key: the row keeps the id as it
 * was recorded (doctors are never deleted).
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.addColumn('check_history', 'doctor_id', { type: DataTypes.INTEGER, allowNull: true });
  await qi.addColumn('check_history', 'room_number', { type: DataTypes.STRING(32), allowNull: true });
}

/**
 * Drops the two columns. On SQLite with `ALTER TABLE … DROP COLUMN` (SQLite 3.35+), which keeps
 * the table's indexes (Sequelize's own `removeColumn` there rebuilds the table without them).
 */
export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  for (const column of ['room_number', 'doctor_id']) {
    if (qi.sequelize.getDialect() === 'sqlite') {
      await qi.sequelize.query(`ALTER TABLE \`check_history\` DROP COLUMN \`${column}\``);
    } else {
      await qi.removeColumn('check_history', column);
    }
  }
}
