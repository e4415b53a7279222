import { Migration } from "@mikro-orm/migrations";

export class Migration20261125023533 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table \`login_failures\` (\`id\` text not null, \`email_hash\` text not null, \`ip\` text not null, \`failed_at\` datetime not null, primary key (\`id\`));`,
    );
    this.addSql(
      `create index \`login_failures_email_hash_ip_failed_at_index\` on \`login_failures\` (\`email_hash\`, \`ip\`, \`failed_at\`);`,
    );
    this.addSql(
      `create index \`login_failures_email_hash_failed_at_index\` on \`login_failures\` (\`email_hash\`, \`failed_at\`);`,
    );

    this.addSql(
      `create table \`rate_limit_counters\` (\`key\` text not null, \`window_start\` bigint not null, \`hits\` integer not null, primary key (\`key\`));`,
    );
  }
}
