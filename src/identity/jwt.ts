import path from 'node:path';
import { errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { resolveAlgorithms, type JwtConfig } from './identity-schema.js';
import { JwksFile } from './jwks-file.js';
import { createRemoteJwks, JwksUnavailableError } from './jwks-remote.js';
import { identityFromClaims } from './jwt-claims.js';
import type { Identity, IdentityError } from './types.js';

/** Three base64url parts (the last, the signature, may be empty: `alg: none` tokens are still recognised, then refused). */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Whether a presented credential has the shape of a compact JWT (a virtual key never does: it has no dots). */
export function looksLikeJwt(credential: string): boolean {
  return credential.length <= 16_384 && JWT_SHAPE.test(credential);
}

/** What the app gives the verifier besides the config. */
export interface JwtVerifierOptions {
  /** Relative `jwksFile` paths are resolved against it (the config file's folder). Default: the working directory. */
  baseDir?: string;
  /** Clock in ms, for exp/nbf (tests inject one). */
  now?: () => number;
  /** A JWKS reload or fetch failed (the last good keys stay in force): for the log. */
  onKeysError?: (err: Error) => void;
}

/** Verifies bearer JWTs and maps their claims to identities. */
export interface JwtVerifier {
  verify(token: string): Promise<Identity | IdentityError>;
}

const invalid = (message: string): IdentityError => ({ error: 'invalid_token', message });

/**
 * What a jose error tells the caller. Messages say what is wrong with the token in general
 * terms and never echo its content, the expected values, or key ids.
 */
export function joseErrorToIdentityError(err: unknown): IdentityError {
  if (err instanceof JwksUnavailableError) return { error: 'unavailable', message: 'Tokens cannot be verified right now (the identity provider\'s keys are unavailable); retry shortly.' };
  if (err instanceof errors.JWTExpired) return invalid('The token has expired.');
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'nbf':
        return invalid('The token is not valid yet.');
      case 'iat':
        return invalid('The token was issued in the future.');
      case 'iss':
        return invalid('The token was not issued by an issuer this router trusts.');
      case 'aud':
        return invalid('The token is not meant for this router (audience).');
      case 'exp':
        return invalid('The token has no expiry (exp); tokens must expire.');
      default:
        return invalid('The token\'s claims are invalid.');
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return invalid('The token is signed with an algorithm this router does not accept.');
  if (err instanceof errors.JWKSNoMatchingKey) return invalid('The token is signed with a key this router does not know.');
  if (err instanceof errors.JWKSMultipleMatchingKeys) return invalid('The token does not name its signing key (kid) and several keys match.');
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid('The token signature is invalid.');
  return invalid('The token is malformed or cannot be verified.');
}

/**
 * A verifier for `auth.jwt`. HS256 tokens are checked only against `secret`, every other
 * algorithm only against the JWKS: the algorithm picks the key source, so a token "signed" with
 * HS256 using a public key as the HMAC secret (algorithm confusion) is just a bad signature.
 * `algorithms` is always passed to jose, so `alg: none` and anything outside the allow-list are
 * refused before any key is looked at; `exp` is required.
 *
 * @throws when `jwksFile` cannot be read or holds no valid public JWKS (a start-up or reload error:
 * the caller keeps the previous verifier on reload).
 */
export function createJwtVerifier(cfg: JwtConfig, opts: JwtVerifierOptions = {}): JwtVerifier {
  const algorithms = resolveAlgorithms(cfg);
  const now = opts.now ?? Date.now;
  const hmacKey = cfg.secret !== undefined ? new TextEncoder().encode(cfg.secret) : undefined;

  let jwks: JWTVerifyGetKey | undefined;
  if (cfg.jwksFile !== undefined) {
    const file = path.resolve(opts.baseDir ?? process.cwd(), cfg.jwksFile);
    jwks = new JwksFile(file, { onError: opts.onKeysError, now }).resolve;
  } else if (cfg.jwksUrl !== undefined) {
    jwks = createRemoteJwks({
      url: cfg.jwksUrl,
      cacheMaxAgeMs: cfg.jwksCacheMaxAgeSeconds * 1000,
      cooldownMs: cfg.jwksCooldownSeconds * 1000,
      timeoutMs: cfg.jwksTimeoutMs,
      onError: opts.onKeysError,
    });
  }

  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (header.alg === 'HS256') {
      if (!hmacKey) throw new errors.JOSEAlgNotAllowed('HS256 is not configured');
      return hmacKey;
    }
    if (!jwks) throw new errors.JOSEAlgNotAllowed('no JWKS configured');
    return jwks(header, token);
  };

  return {
    async verify(token) {
      if (!looksLikeJwt(token)) return invalid('The token is malformed or cannot be verified.');
      try {
        const { payload } = await jwtVerify(token, getKey, {
          algorithms,
          issuer: cfg.issuer,
          audience: cfg.audience,
          clockTolerance: cfg.clockSkewSeconds,
          currentDate: new Date(now()),
          requiredClaims: ['exp'],
        });
        return identityFromClaims(payload, cfg);
      } catch (err) {
        return joseErrorToIdentityError(err);
      }
    },
  };
}
