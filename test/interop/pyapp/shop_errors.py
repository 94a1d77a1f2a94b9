"""An exception a Sprig task declares it stands for (test/fixtures/task-api-tasks.ts PaymentDeclined)."""


class PaymentDeclined(Exception):
    """args: (code, amount)."""
