"""siren_inr.analysis"""
