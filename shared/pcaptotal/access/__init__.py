"""Access control: API keys and roles (``apikeys``, ``roles``, ``http``), the caller's identity
(``identity``), private captures enforced below the routes (``visibility``, ``stamping``) and
the audit log (``audit``). Import the submodules directly (``context`` imports ``stamping``)."""
