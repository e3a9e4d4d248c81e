"""siren_inr.metrics"""
