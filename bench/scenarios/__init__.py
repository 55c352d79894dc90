"""The benchmark scenarios, one module each (sign-up burst and crash drill share one)."""
