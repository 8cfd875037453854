"""Realistic Brazilian people, companies, places and products, for the demo workspace and the
benchmarks' data generator (seeded `random.Random`: the same seed gives the same people)."""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

# --- vocabulary -------------------------------------------------------------------------------
# fmt: off

FIRST_NAMES_F = (
    "Maria", "Ana", "Francisca", "Antônia", "Adriana", "Juliana", "Márcia", "Fernanda", "Patrícia",
    "Aline", "Camila", "Beatriz", "Larissa", "Letícia", "Gabriela", "Júlia", "Mariana", "Vitória",
    "Luana", "Bruna", "Tatiane", "Renata", "Cláudia", "Sandra", "Vanessa", "Débora", "Luíza",
    "Helena", "Alice", "Sofia", "Valentina", "Isabela", "Manuela", "Lorena", "Rafaela", "Natália",
    "Priscila", "Simone", "Elaine", "Rosângela", "Conceição", "Raquel", "Thaís", "Jéssica",
)
FIRST_NAMES_M = (
    "José", "João", "Antônio", "Francisco", "Carlos", "Paulo", "Pedro", "Lucas", "Luiz", "Marcos",
    "Luís", "Gabriel", "Rafael", "Daniel", "Marcelo", "Bruno", "Eduardo", "Felipe", "Raimundo",
    "Rodrigo", "Gustavo", "Mateus", "Thiago", "Leonardo", "Vinícius", "Guilherme", "André",
    "Fábio", "Sérgio", "Otávio", "Heitor", "Davi", "Arthur", "Bernardo", "Enzo", "Miguel", "Caio",
    "Diego", "Henrique", "Wellington", "Joaquim", "Cícero", "Sebastião", "Júlio",
)
MIDDLE_NAMES_F = ("Aparecida", "Cristina", "Eduarda", "Clara", "Luiza", "Fernanda", "de Fátima")
MIDDLE_NAMES_M = ("Henrique", "Eduardo", "Augusto", "Carlos", "Paulo", "Vitor", "Miguel")
SURNAMES = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima",
    "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes",
    "Vieira", "Barbosa", "Rocha", "Dias", "Nascimento", "Andrade", "Moreira", "Nunes", "Marques",
    "Machado", "Mendes", "Freitas", "Cardoso", "Ramos", "Gonçalves", "Santana", "Teixeira",
    "Araújo", "Pinto", "Correia", "Cavalcanti", "Monteiro", "Moura", "Batista", "Campos",
    "Castro", "Azevedo", "Brandão", "Siqueira", "Magalhães", "Figueiredo", "Assunção",
)
# "Maria da Silva", "José dos Santos", "Ana de Souza": only some surnames take a particle.
PARTICLES = {
    "Silva": "da", "Costa": "da", "Rocha": "da", "Assunção": "da", "Santos": "dos", "Souza": "de",
    "Oliveira": "de", "Almeida": "de", "Andrade": "de", "Freitas": "de", "Araújo": "de",
}
MAIL_DOMAINS = (
    ("gmail.com", 40), ("hotmail.com", 18), ("outlook.com", 10), ("yahoo.com.br", 8),
    ("uol.com.br", 5), ("bol.com.br", 4), ("terra.com.br", 3), ("icloud.com", 3),
)
COMPANY_TYPES = (  # (kind of business, industry): eight industries, so each has customers enough
    ("Padaria", "Alimentação"), ("Construtora", "Construção civil"), ("Clínica", "Saúde"),
    ("Mercado", "Varejo"), ("Farmácia", "Saúde"), ("Escola", "Educação"),
    ("Transportadora", "Logística"), ("Ótica", "Varejo"), ("Pet Shop", "Varejo"),
    ("Café", "Alimentação"), ("Estúdio", "Serviços"), ("Contabilidade", "Serviços"),
    ("Distribuidora", "Logística"), ("Restaurante", "Alimentação"), ("Academia", "Saúde"),
    ("Imobiliária", "Serviços"), ("Auto Peças", "Varejo"), ("Agropecuária", "Alimentação"),
    ("Tecnologia", "Software"), ("Consultoria", "Serviços"), ("Software House", "Software"),
    ("Faculdade", "Educação"), ("Engenharia", "Construção civil"),
)
COMPANY_NAMES = (
    "Horizonte", "Paulista", "Bom Preço", "Nordeste", "Cerrado", "Vida", "Aprender", "Rápida",
    "Visão", "Amigo Fiel", "do Ponto", "Criativo", "Exata", "Sol Nascente", "Boa Vista",
    "Primavera", "Estrela", "Ipê Amarelo", "Serra Azul", "Mar Aberto", "Central", "Aliança",
    "Progresso", "União", "Pão Dourado", "Bandeirantes", "Guanabara", "Pampa", "Araucária",
    "São Jorge", "Jequitibá", "Litoral", "Vale Verde", "Norte Forte", "Capivari",
)
COMPANY_SUFFIXES = ("Ltda", "Ltda", "ME", "S.A.", "EIRELI", "")
JOB_TITLES = (
    "Proprietário", "Sócio-administrador", "Gerente de Compras", "Diretora Financeira",
    "Analista de Marketing", "Coordenador de TI", "Assistente Administrativo", "CEO",
    "Compradora", "Gerente Comercial", "Supervisor de Operações", "Analista de RH",
)
CITIES = (
    # city, state, DDD, first CEP digits, weight
    ("São Paulo", "SP", "11", "0", 30), ("Rio de Janeiro", "RJ", "21", "2", 14),
    ("Belo Horizonte", "MG", "31", "3", 8), ("Salvador", "BA", "71", "4", 6),
    ("Fortaleza", "CE", "85", "60", 5), ("Recife", "PE", "81", "5", 5),
    ("Porto Alegre", "RS", "51", "9", 5), ("Curitiba", "PR", "41", "8", 5),
    ("Brasília", "DF", "61", "7", 5), ("Manaus", "AM", "92", "69", 3),
    ("Belém", "PA", "91", "66", 3), ("Goiânia", "GO", "62", "74", 3),
    ("Campinas", "SP", "19", "13", 3), ("Florianópolis", "SC", "48", "88", 2),
    ("Natal", "RN", "84", "59", 2), ("São Luís", "MA", "98", "65", 2),
)
STREETS = (
    "Rua das Flores", "Avenida Brasil", "Rua XV de Novembro", "Avenida Paulista",
    "Rua Sete de Setembro", "Rua da Consolação", "Avenida Getúlio Vargas", "Rua Dom Pedro II",
    "Rua São João", "Avenida Beira-Mar", "Travessa do Comércio", "Rua Tiradentes",
)
CHANNELS = (
    ("organic", 25), ("google_ads", 18), ("instagram", 16), ("referral", 12), ("whatsapp", 10),
    ("meta_ads", 8), ("events", 5), ("outbound", 6),
)
TAGS = (
    "vip", "newsletter", "lead-quente", "lead-frio", "cliente-recorrente", "inadimplente",
    "black-friday", "indicação", "parceiro", "risco-de-churn", "promotor", "atacado",
)
PRODUCTS = (
    ("Plano Básico", Decimal("49.90")), ("Plano Pro", Decimal("149.90")),
    ("Plano Empresa", Decimal("499.00")), ("Kit Inicial", Decimal("89.90")),
    ("Consultoria (hora)", Decimal("250.00")), ("Treinamento", Decimal("1290.00")),
    ("Cesta Premium", Decimal("320.00")), ("Assinatura Anual", Decimal("1490.00")),
)


def fold_ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in folded if not unicodedata.combining(ch))


def slug(text: str, sep: str = "") -> str:
    out = "".join(ch if ch.isalnum() else " " for ch in fold_ascii(text).lower())
    return sep.join(out.split())


def weighted(rng: random.Random, items: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


def moment(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A random time in [start, end), to the microsecond."""
    span_us = max(int((end - start) / timedelta(microseconds=1)), 1)
    return start + timedelta(microseconds=rng.randrange(span_us))


def person_name(rng: random.Random) -> tuple[str, str, str]:
    """(full name, first name, last surname)."""
    female = rng.random() < 0.52
    first = rng.choice(FIRST_NAMES_F if female else FIRST_NAMES_M)
    parts = [first]
    if rng.random() < 0.3:
        parts.append(rng.choice(MIDDLE_NAMES_F if female else MIDDLE_NAMES_M))
    surnames = rng.sample(SURNAMES, 2 if rng.random() < 0.55 else 1)
    for n, surname in enumerate(surnames):
        if n == len(surnames) - 1 and surname in PARTICLES and rng.random() < 0.5:
            parts.append(PARTICLES[surname])
        parts.append(surname)
    return " ".join(parts), first, surnames[-1]


def postal_code(rng: random.Random, prefix: str) -> str:
    """A CEP, NNNNN-NNN, starting with the region's digits."""
    rest = 5 - len(prefix)
    return f"{prefix}{rng.randrange(10**rest):0{rest}d}-{rng.randrange(1000):03d}"


# What goes with what: a buyer's next purchase is often one of these (the recommendations have
# co-purchases to find).
GOES_WITH = {
    "Plano Básico": ("Kit Inicial", "Plano Pro"),
    "Plano Pro": ("Treinamento", "Consultoria (hora)"),
    "Plano Empresa": ("Consultoria (hora)", "Treinamento", "Assinatura Anual"),
    "Kit Inicial": ("Plano Básico", "Cesta Premium"),
    "Consultoria (hora)": ("Treinamento", "Plano Empresa"),
    "Treinamento": ("Consultoria (hora)", "Plano Pro"),
    "Cesta Premium": ("Kit Inicial",),
    "Assinatura Anual": ("Treinamento", "Plano Empresa"),
}
# How much a customer spends, relative to others, by industry and by company size: the
# breakdowns by industry and size then differ in value, as real ones do.
SPEND_BY_INDUSTRY = {
    "Software": 2.6,
    "Serviços": 1.6,
    "Saúde": 1.3,
    "Construção civil": 1.2,
    "Logística": 1.0,
    "Educação": 0.9,
    "Varejo": 0.7,
    "Alimentação": 0.5,
}
COMPANY_SIZES = (("pequeno", 1, 19, 0.7), ("médio", 20, 199, 1.1), ("grande", 200, 2000, 1.8))
# Which stories a channel brings more (×2) or fewer (×0.5) of: referrals and events bring loyal
# buyers, paid social more who leave.
CHANNEL_STORIES = {
    "referral": {"repeat_buyer": 2.0, "advocate": 2.0, "churned": 0.5, "lost": 0.5},
    "events": {"big_spender": 2.0, "repeat_buyer": 2.0, "lost": 0.5},
    "meta_ads": {"churned": 2.0, "lost": 2.0, "repeat_buyer": 0.5, "advocate": 0.5},
    "instagram": {"churned": 1.8, "visitor": 1.5, "advocate": 0.6},
}
# And which an industry brings more or fewer of: software firms subscribe and stay, food
# businesses come and go.
INDUSTRY_STORIES = {
    "Software": {"subscriber": 2.5, "repeat_buyer": 1.5, "churned": 0.5, "cancelled": 0.6},
    "Serviços": {"repeat_buyer": 1.5, "advocate": 1.5},
    "Alimentação": {"churned": 2.0, "lost": 1.5, "repeat_buyer": 0.6},
    "Varejo": {"churned": 1.5, "cancelled": 1.5},
}
