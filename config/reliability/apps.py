from django.apps import AppConfig


class ReliabilityConfig(AppConfig):
    name = "config.reliability"
    label = "reliability"  # tables, migrations and task names keep the short name
    verbose_name = "运行保障"
