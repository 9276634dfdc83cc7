"""A user whose password changes or who is deactivated loses every API token at once.

A signal, not a service, because this must hold whichever way the user row changes: the admin,
`manage.py changepassword`, a shell. Web sessions already behave this way (Django checks the
password hash and `is_active` when it loads a session); without this, a token of a compromised
account would come back to life when the account is reactivated after a password reset."""

from django.conf import settings
from django.db.models.signals import pre_save
from django.dispatch import receiver

from .tokens import tokens_revoke_all

WATCHED = {"password", "is_active"}


@receiver(
    pre_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="markets.accounts.revoke_tokens_on_password_or_deactivation"
)
def revoke_tokens_on_password_or_deactivation(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw or instance.pk is None or (update_fields is not None and not WATCHED & set(update_fields)):
        return
    before = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if before is None:
        return
    if before["password"] != instance.password or (before["is_active"] and not instance.is_active):
        tokens_revoke_all(user_id=instance.pk)
