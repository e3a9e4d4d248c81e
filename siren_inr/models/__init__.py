"""siren_inr.models"""
