"""`manage.py import_orgs FILE [--dry-run]`: districts, markets, warehouses and their people from
one CSV or XLSX table (format: docs/organisations.md). All or nothing; a rerun changes nothing."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError
from django.utils import translation

from ...organisations import KIND_NAMES, OrgFileError, organisations_import, read_org_file


class Command(BaseCommand):
    help = (
        "导入真实组织：辖区、市场、监管仓（及其服务的市场）、经营户和工作人员"
        "（CSV 或 XLSX，见 docs/organisations.md）。"
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the .csv or .xlsx file")
        parser.add_argument("--dry-run", action="store_true", help="check and report, write nothing")

    def handle(self, *args, file: str, dry_run: bool, **options):
        # Django's own messages (password rules) in Chinese, like ours.
        with translation.override("zh-hans"):
            try:
                report = organisations_import(rows=read_org_file(file), dry_run=dry_run)
            except OrgFileError as error:
                for row, message in error.errors:
                    self.stderr.write(f"第 {row} 行：{message}" if row else message)
                raise CommandError(f"{file}：发现 {len(error.errors)} 处错误，未导入任何内容。") from None
            except IntegrityError:
                # Only another import (or an admin) writing the same codes or usernames at the
                # same moment gets here: the transaction was rolled back as a whole.
                raise CommandError(
                    f"{file}：导入时有其他操作同时写入相同的编码或用户名，未导入任何内容；请重新运行。"
                ) from None

        self.stdout.write(("试运行（未写入）：" if dry_run else "") + "导入结果")
        for kind, name in KIND_NAMES.items():
            counts = report.created[kind], report.updated[kind], report.unchanged[kind]
            if any(counts):
                self.stdout.write(f"  {name}：新建 {counts[0]}，更新 {counts[1]}，未变 {counts[2]}")
        if not report.changed:
            self.stdout.write("  没有任何改动。")
        if report.without_password:
            self.stdout.write("以下新用户尚无可用密码，请管理员为其设置（或在管理后台 /admin/ 设置）：")
            # In production manage.py runs through deploy/manage.sh (the service user, the
            # production environment); a bare `python manage.py` there would open another database.
            command = "deploy/manage.sh" if settings.PRODUCTION else "python manage.py"
            for username in report.without_password:
                self.stdout.write(f"  {command} changepassword {username}")
        if report.not_in_file:
            self.stdout.write("以下人员不在文件中，保持原样（停用请在管理后台取消“有效”）：")
            self.stdout.write("  " + "、".join(report.not_in_file))
