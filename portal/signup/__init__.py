"""Delegate sign-up: programmes and waves, applications, the waitlist and its offers, cohort
selection and access provisioning."""
