"""Chain adapters: payload in, exact bytes to sign and a reviewable summary out.

:mod:`.intent` is the seam (SigningIntent, SignRequest, finalize);
:mod:`.engines` holds the signer engines; one module per chain.
"""
