import { Migration } from '@mikro-orm/migrations';

export class Migration20261126114736 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`totp_credentials\` (\`id\` text not null, \`user_id\` text not null, \`secret\` text not null, \`confirmed_at\` datetime null, \`last_used_step\` integer null, \`created_at\` datetime not null, constraint \`totp_credentials_user_id_foreign\` foreign key(\`user_id\`) references \`users\`(\`id\`) on delete cascade on update cascade, primary key (\`id\`));`);
    this.addSql(`create index \`totp_credentials_user_id_index\` on \`totp_credentials\` (\`user_id\`);`);
    this.addSql(`create unique index \`totp_credentials_user_id_unique\` on \`totp_credentials\` (\`user_id\`);`);

    this.addSql(`create table \`recovery_codes\` (\`id\` text not null, \`user_id\` text not null, \`code_hash\` text not null, \`created_at\` datetime not null, \`used_at\` datetime null, constraint \`recovery_codes_user_id_foreign\` foreign key(\`user_id\`) references \`users\`(\`id\`) on delete cascade on update cascade, primary key (\`id\`));`);
    this.addSql(`create index \`recovery_codes_user_id_index\` on \`recovery_codes\` (\`user_id\`);`);
    this.addSql(`create index \`recovery_codes_user_id_used_at_index\` on \`recovery_codes\` (\`user_id\`, \`used_at\`);`);
    this.addSql(`create unique index \`recovery_codes_user_id_code_hash_unique\` on \`recovery_codes\` (\`user_id\`, \`code_hash\`);`);

    this.addSql(`create table \`mfa_challenges\` (\`id\` text not null, \`user_id\` text not null, \`token_hash\` text not null, \`first_amr\` text not null, \`attempts\` integer not null default 0, \`created_at\` datetime not null, \`expires_at\` datetime not null, \`used_at\` datetime null, constraint \`mfa_challenges_user_id_foreign\` foreign key(\`user_id\`) references \`users\`(\`id\`) on delete cascade on update cascade, primary key (\`id\`));`);
    this.addSql(`create index \`mfa_challenges_user_id_index\` on \`mfa_challenges\` (\`user_id\`);`);
    this.addSql(`create unique index \`mfa_challenges_token_hash_unique\` on \`mfa_challenges\` (\`token_hash\`);`);
    this.addSql(`create index \`mfa_challenges_used_at_index\` on \`mfa_challenges\` (\`used_at\`);`);
    this.addSql(`create index \`mfa_challenges_expires_at_index\` on \`mfa_challenges\` (\`expires_at\`);`);
  }

}
