"""`manage.py anonymise_buyers [--dry-run]`: buyers of sales older than BUYER_DATA_RETENTION_DAYS
lose their name and phone (markets.retention). Celery beat runs the same service daily."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from ...retention import buyers_anonymise


class Command(BaseCommand):
    help = "匿名化超过保存期限（BUYER_DATA_RETENTION_DAYS）的销售记录中的买方姓名和手机号。"

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would be anonymised, change nothing")

    def handle(self, *args, dry_run: bool, **options):
        result = buyers_anonymise(dry_run=dry_run)
        cutoff = timezone.localtime(result.cutoff).strftime("%Y-%m-%d %H:%M")
        if dry_run:
            self.stdout.write(f"试运行：{cutoff} 之前的销售记录中，有 {result.due} 条的买方信息待匿名化（未作改动）。")
        else:
            self.stdout.write(f"已匿名化 {cutoff} 之前的 {result.anonymised} 条销售记录的买方信息。")
