"""Provisioning: provisionClient, retryProvisioning and deprovisionClient."""
